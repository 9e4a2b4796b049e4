"""The reader network: the default model's first layers with a start/end head, and its shipped weights.

Only what training changed ships (`weights.safetensors`, fp16): the kept transformer layers and the head.
The word, position and type embeddings are the default model's own and are read from it, so the file stays small.
"""

from __future__ import annotations

import json
from pathlib import Path

from qa.core.files import write_atomically

WEIGHTS = Path(__file__).with_name("weights.safetensors")
LAYERS = 6  # the default model's first six layers: half the cost of reading with all twelve


def build_net(model_dir: Path, layers: int = LAYERS):
    """The reader's torch module: the default model cut to `layers` layers, a fresh start/end head."""
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig.from_pretrained(str(model_dir), num_hidden_layers=layers, attn_implementation="eager")
    bert = BertModel.from_pretrained(str(model_dir), config=config, add_pooling_layer=False)

    class ReaderNet(torch.nn.Module):
        """Token states to a start and an end logit per token; position 0 (`<s>`) stands for "no answer here"."""

        def __init__(self):
            super().__init__()
            self.bert = bert
            self.head = torch.nn.Linear(config.hidden_size, 2)

        def forward(self, input_ids, attention_mask):
            states = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            logits = self.head(states)
            return logits[..., 0], logits[..., 1]

    return ReaderNet()


def trained_parameters(net) -> dict:
    """The parameters training changes and the weights file holds: the layers and the head, not the embeddings."""
    return {name: p for name, p in net.named_parameters() if not name.startswith("bert.embeddings.")}


def save_weights(net, path: Path, meta: dict) -> None:
    """The trained parameters as fp16 safetensors, with `meta` (how it was trained) in the file's header."""
    from safetensors.torch import save_file

    tensors = {name: p.detach().to("cpu").half().contiguous() for name, p in trained_parameters(net).items()}
    write_atomically(path, lambda out: save_file(tensors, str(out),
                                                 metadata={"qa_reader": json.dumps(meta, ensure_ascii=False)}))


def load_weights(net, path: Path = WEIGHTS) -> dict:
    """Put the shipped parameters into `net`; returns the file's metadata."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    missing = set(trained_parameters(net)) - set(tensors)
    if missing:
        raise ValueError(f"{path} lacks {sorted(missing)[:3]}")
    net.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=False)
    with safe_open(str(path), framework="pt") as f:
        return json.loads((f.metadata() or {}).get("qa_reader", "{}"))
