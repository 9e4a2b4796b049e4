"""The onnx backends (the default): a mean-pooled model exported once, run by onnxruntime, fp32 or int8."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import numpy as np

from qa.core.errors import QAError
from qa.core.settings import DEFAULT_MODEL
from qa.embed.base import Embedder, Kind, choose_prompts, model_name
from qa.embed.device import CPU, CPU_BATCH, CUDA, GPU_BATCH, NO_GPU, OR_CPU, providers_for

log = logging.getLogger("qa")


class OnnxEmbedder(Embedder):
    """A mean-pooled sentence-transformers model run by onnxruntime: fused fp32, or int8 (the default backend).

    Questions run alone on one single-threaded session. Passages are tokenized, sorted by length and cut
    into small batches of similar length, which two single-threaded sessions run side by side: on a
    2-core machine that beats one two-threaded session and large batches (BENCHMARKS.md, "Encoding backends").
    On a CUDA GPU (`device`, qa.embed.device) one session runs large batches.
    """

    MAX_ROWS = 16  # texts in one batch: larger batches were slower on this CPU
    TOKEN_BUDGET = 1024  # rows times the longest row's tokens in one batch (padding included)
    WORKERS = 2  # sessions running batches side by side
    # On a GPU (not measured yet: bench/gpu_ingest.py): 64 rows of 512 tokens keep e5-small's attention under 1 GB.
    GPU_ROWS = 256
    GPU_TOKEN_BUDGET = 32768

    def __init__(self, model: str = DEFAULT_MODEL, quantized: bool = True, query_prompt: str | None = None,
                 passage_prompt: str | None = None, model_cache: Path | None = None, device: str = "auto"):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from qa.embed.onnx_export import exported_model

        self.providers = providers_for(device, ort.get_available_providers())
        folder = _local_model_dir(model, model_cache)
        if not _read_json(folder / "1_Pooling" / "config.json").get("pooling_mode_mean_tokens"):
            raise QAError(f"The onnx backends run mean-pooled models only; {model} pools otherwise: "
                          "use QA_EMBEDDER=torch.")
        max_tokens = _read_json(folder / "sentence_bert_config.json").get("max_seq_length", 512)
        configured = _read_json(folder / "config_sentence_transformers.json").get("prompts", {})
        self.prompts = choose_prompts(model, configured, query_prompt, passage_prompt)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_tokens)
        self.pad_id = self.tokenizer.token_to_id("<pad>") or 0
        self.path = exported_model(folder, quantized)
        self.name = model_name(model, "onnx-int8" if quantized else "onnx", passage_prompt)
        self._sessions = [self._session()]  # more are made for the first batch of passages (on the CPU)
        if CUDA in self.providers and CUDA not in self._sessions[0].get_providers():
            self._without_cuda(device)
        self._use(CUDA in self.providers)
        self.dim = self._sessions[0].get_outputs()[0].shape[-1]
        self._lock = threading.Lock()

    def _session(self):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # shared cores: yield, don't spin
        return ort.InferenceSession(str(self.path), options, providers=self.providers)

    def _without_cuda(self, device: str) -> None:
        """onnxruntime has CUDA but could not start it (no GPU, a missing library): the CPU, unless cuda was asked."""
        if device == "cuda":
            raise QAError(f"{NO_GPU}: onnxruntime could not start its {CUDA} (its log above says why: no GPU "
                          f"visible, or a CUDA or cuDNN library missing); {OR_CPU}.")
        log.warning("onnxruntime could not start its %s; embedding on the CPU.", CUDA)
        self.providers = [CPU]
        self._sessions = [self._session()]

    def _use(self, gpu: bool) -> None:
        """Batch sizes and sessions for the device: one session and large batches on a GPU."""
        self.device = "cuda" if gpu else "cpu"
        self.batch_size = GPU_BATCH if gpu else CPU_BATCH
        self.rows, self.token_budget, self.workers = ((self.GPU_ROWS, self.GPU_TOKEN_BUDGET, 1) if gpu
                                                      else (self.MAX_ROWS, self.TOKEN_BUDGET, self.WORKERS))

    def embed(self, texts: list[str], kind: Kind) -> np.ndarray:
        """Tokenize, run in length-sorted batches (side by side when there are several), mean-pool, normalize."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        encodings = self.tokenizer.encode_batch([self.prompts[kind] + t for t in texts])
        batches = token_batches([len(e.ids) for e in encodings], self.rows, self.token_budget)
        if len(batches) == 1 or self.workers == 1:
            for rows in batches:
                self._run(self._sessions[0], [encodings[i] for i in rows], out, rows)
            return out
        with self._lock:
            while len(self._sessions) < self.workers:
                self._sessions.append(self._session())
        # onnxruntime releases the GIL while it runs: one thread per session is real parallelism.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(self.workers) as pool:
            list(pool.map(lambda w: [self._run(self._sessions[w], [encodings[i] for i in rows], out, rows)
                                     for rows in batches[w :: self.workers]], range(self.workers)))
        return out

    def _run(self, session, encodings, out: np.ndarray, rows: list[int]) -> None:
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for r, e in enumerate(encodings):
            ids[r, : len(e.ids)] = e.ids
            mask[r, : len(e.ids)] = 1
        states = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        out[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def token_batches(lengths: list[int], max_rows: int, token_budget: int) -> list[list[int]]:
    """Indexes sorted by length, cut into batches of at most max_rows whose rows x longest stays within the budget."""
    batches: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        batch = batches[-1] if batches else None
        if batch is None or len(batch) == max_rows or (len(batch) + 1) * lengths[i] > token_budget:
            batches.append([i])
        else:
            batch.append(i)
    return batches


def _local_model_dir(model: str, model_cache: Path | None) -> Path:
    from qa.embed import convert

    folder = convert.default_model_path(model_cache) if model == DEFAULT_MODEL else Path(model)
    if not (folder / "tokenizer.json").exists():
        raise QAError(f"The onnx backends need a local sentence-transformers folder with tokenizer.json, not {model}.")
    return folder


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
