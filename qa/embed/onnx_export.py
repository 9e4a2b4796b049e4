"""Export a sentence-transformers BERT model to ONNX once per model: fused for CPU, and an int8 copy.

The graph is exported with torch (eager attention, so that onnxruntime's transformer optimizer can
fuse each layer's attention, LayerNorm and GELU into single operators), optimized, and quantized to
int8 with a scale per output channel. Only the export needs torch; answering with the files does not.
sentence-transformers' own `backend="onnx"` needs optimum-onnx, which pins transformers < 4.58.
Each file is written beside its final place and renamed into it, so a crash never leaves half a model.
BENCHMARKS.md ("Encoding backends") has the measurements behind each step.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

from qa.core.files import write_atomically

log = logging.getLogger("qa")

ONNX_DIR = "onnx"
FUSED_FILE = "model.fused.onnx"  # fp32, attention fused: the same vectors as torch
INT8_FILE = "model.fused.int8-matmul.onnx"  # int8 matrix products (per-channel weight scales), fp32 embeddings


def exported_model(model_dir: Path, quantized: bool) -> Path:
    """The ONNX file for the model in `model_dir`, exported on first use into `model_dir/onnx`."""
    folder = Path(model_dir) / ONNX_DIR
    fused = folder / FUSED_FILE
    if not fused.exists():
        log.info("Exporting %s to ONNX, once (about a minute).", model_dir)
        write_atomically(fused, lambda out: _export_fused(Path(model_dir), out))
    if not quantized:
        return fused
    int8 = folder / INT8_FILE
    if not int8.exists():
        write_atomically(int8, lambda out: _quantize(fused, out))
    return int8


def _export_fused(model_dir: Path, out: Path) -> None:
    """Export the transformer with torch, then fuse it for the CPU with onnxruntime's transformer optimizer."""
    from onnxruntime.transformers import optimizer

    raw = out.with_name("raw.onnx")
    _export(model_dir, raw)
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    fused = optimizer.optimize_model(str(raw), model_type="bert", num_heads=config["num_attention_heads"],
                                     hidden_size=config["hidden_size"], opt_level=0, use_gpu=False)
    fused.save_model_to_file(str(out))
    raw.unlink()


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

    # Eager attention exports as plain MatMul/Softmax, which the optimizer fuses; sdpa's graph it cannot.
    model = SentenceTransformer(str(model_dir), device="cpu", model_kwargs={"attn_implementation": "eager"})
    bert = model[0].auto_model.eval()
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


def _quantize(fused: Path, out: Path) -> None:
    """Dynamic int8 for the layers' matrix products, weights per output channel; the word embeddings stay fp32.

    Per tensor moves vectors four times as far as per channel; the embedding table can only be quantized per
    tensor, and that alone lost English questions their Chinese answers (BENCHMARKS.md, "Encoding backends").
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Shape inference cannot see through the fused operators: without a default type the quantizer stops.
    quantize_dynamic(str(fused), str(out), weight_type=QuantType.QInt8, per_channel=True, reduce_range=False,
                     op_types_to_quantize=["MatMul", "Attention"],
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
