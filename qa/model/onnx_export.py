"""Export a sentence-transformers BERT model to ONNX, and an int8 (dynamically quantized) copy, once per model.

sentence-transformers' own `backend="onnx"` needs optimum-onnx, which pins transformers < 4.58; this
project runs transformers 5, so the export is done here with torch's exporter and onnxruntime's quantizer.
Each file is written beside its final place and renamed into it, so a crash never leaves half a model.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("qa")

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model_int8.onnx"


def exported_model(model_dir: Path, quantized: bool) -> Path:
    """The ONNX file for the model in `model_dir`, exported on first use into `model_dir/onnx`."""
    folder = Path(model_dir) / ONNX_DIR
    fp32 = folder / FP32_FILE
    if not fp32.exists():
        log.info("Exporting %s to ONNX, once (under a minute).", model_dir)
        _write_atomically(fp32, lambda out: _export(Path(model_dir), out))
    if not quantized:
        return fp32
    int8 = folder / INT8_FILE
    if not int8.exists():
        _write_atomically(int8, lambda out: _quantize(fp32, out))
    return int8


def _write_atomically(target: Path, make: Callable[[Path], None]) -> None:
    """Run `make` into a temporary file beside `target`, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        make(tmp / target.name)
        os.replace(tmp / target.name, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _export(model_dir: Path, out: Path) -> None:
    """The transformer of the sentence-transformers model as an ONNX graph: ids and mask in, token states out."""
    import torch
    from sentence_transformers import SentenceTransformer

    class TokenStates(torch.nn.Module):
        """The part of the model before sentence-transformers' pooling."""

        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    bert = SentenceTransformer(str(model_dir), device="cpu")[0].auto_model.eval()
    sample = torch.ones((2, 8), dtype=torch.long)
    # The tracer warns about shape-dependent branches in transformers' masking; the slow test checks padded batches.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            TokenStates(bert).eval(), (sample, sample), str(out), dynamo=False, opset_version=17,
            input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in ("input_ids", "attention_mask",
                                                                        "last_hidden_state")},
        )


def _quantize(fp32: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8)
