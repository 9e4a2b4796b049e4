"""The reader at question time: the question read with a window of each top passage, by onnxruntime (int8).

At first use the reader network is built from the default model and the shipped weights, exported to ONNX,
quantized like the embedder (int8 matrix products) and cached beside the default model, keyed by the weights'
hash. A window is centred on the part of the passage the answer-span chooser picked (qa.answer.span), so one
short window per passage is read, not the whole passage.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.answer.reader.model import LAYERS, WEIGHTS, build_net, load_weights
from qa.answer.reader.windows import PAD, Window, encode, load_tokenizer, windows_around
from qa.core.errors import QAError
from qa.core.files import write_atomically

log = logging.getLogger("qa")

MAX_ANSWER_TOKENS = 48


@dataclass
class Reading:
    """What the reader found in one passage: the answer's characters, its score and the "no answer" score."""

    start: int
    end: int
    score: float  # start + end logit of the best span
    no_answer: float  # start + end logit at position 0

    @property
    def margin(self) -> float:
        """How much more the reader believes the span than "no answer here" (positive: it found an answer)."""
        return self.score - self.no_answer


class Reader:
    """Reads a question with windows of passages and returns the best answer span in each."""

    def __init__(self, model_dir: Path, weights: Path = WEIGHTS):
        if not Path(weights).is_file():
            raise QAError(f"The reader's weights are missing ({weights}): reinstall qa, or answer without the reader "
                          "(QA_READER=off, qa ask --no-reader).")
        self.tokenizer = load_tokenizer(str(model_dir))
        self.path = exported_reader(Path(model_dir), weights)
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # shared cores: yield, don't spin
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()

    def read(self, question: str, passages: list[str], focus: list[tuple[int, int]]) -> list[Reading]:
        """For each passage, the best span in the window around its `focus` characters."""
        if not passages:
            return []
        q, *encoded = encode(self.tokenizer, [question, *passages])
        windows = [windows_around(q.ids, p, a, b) for p, (a, b) in zip(encoded, focus)]
        start, end = self.logits(windows)
        return [best_reading(w, start[k], end[k]) for k, w in enumerate(windows)]

    def logits(self, windows: list[Window]) -> tuple[np.ndarray, np.ndarray]:
        """Start and end logits for a batch of windows (padded to the longest)."""
        width = max(len(w.ids) for w in windows)
        ids = np.full((len(windows), width), PAD, dtype=np.int64)
        for r, w in enumerate(windows):
            ids[r, :len(w.ids)] = w.ids
        mask = (ids != PAD).astype(np.int64)
        start, end = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
        return start, end


def best_reading(w: Window, start: np.ndarray, end: np.ndarray) -> Reading:
    """The best span of passage tokens (end after start, at most MAX_ANSWER_TOKENS) against position 0."""
    first, last = w.first, w.first + len(w.offsets) - 1
    s, e = start[first:last + 1], end[first:last + 1]
    n = len(s)
    if n == 0:
        return Reading(0, 0, float("-inf"), float(start[0] + end[0]))
    pairs = s[:, None] + e[None, :]
    rows, cols = np.indices((n, n))
    pairs = np.where((cols >= rows) & (cols - rows < MAX_ANSWER_TOKENS), pairs, -np.inf)
    i, j = np.unravel_index(int(np.argmax(pairs)), pairs.shape)
    a, b = w.char_span(first + int(i), first + int(j))
    return Reading(a, b, float(pairs[i, j]), float(start[0] + end[0]))


def exported_reader(model_dir: Path, weights: Path = WEIGHTS) -> Path:
    """The reader's int8 ONNX file, built from the default model and `weights` on first use and cached."""
    from qa.embed.onnx_export import _quantize

    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
    folder = model_dir.parent / f"reader-{model_dir.name}-{digest}"
    fused, int8 = folder / "reader.fused.onnx", folder / "reader.int8.onnx"
    if not int8.exists():
        log.info("Building the reader from the default model and %s, once (about a minute).", weights.name)
        write_atomically(fused, lambda out: _export_fused(model_dir, weights, out))
        write_atomically(int8, lambda out: _quantize(fused, out))
    return int8


def _export_fused(model_dir: Path, weights: Path, out: Path) -> None:
    """The reader network as an ONNX graph (ids and mask in, start and end logits out), fused for the CPU."""
    import warnings

    import torch
    from onnxruntime.transformers import optimizer

    net = build_net(model_dir, LAYERS)
    load_weights(net, weights)
    net.eval()
    raw = out.with_name("raw.onnx")
    sample = torch.ones((2, 8), dtype=torch.long)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (sample, sample), str(raw), dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask"], output_names=["start", "end"],
                          dynamic_axes={n: {0: "batch", 1: "tokens"} for n in ("input_ids", "attention_mask",
                                                                               "start", "end")})
    config = net.bert.config
    fused = optimizer.optimize_model(str(raw), model_type="bert", num_heads=config.num_attention_heads,
                                     hidden_size=config.hidden_size, opt_level=0, use_gpu=False)
    fused.save_model_to_file(str(out))
    raw.unlink()
