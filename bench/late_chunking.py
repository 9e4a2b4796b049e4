"""Clause vectors from the passage's own forward pass ("late chunking") against embedding each clause alone.

The build embeds every passage and then every clause of it as a text of its own (8 to 13 clauses a
passage in these texts), which is why it runs at about half the rate of raw `encode` of the passages
(BENCHMARKS.md, "Indexing throughput"). Late chunking runs the model once on the prompted passage and
mean-pools its last-layer token states over each clause's characters (the fast tokenizer's offset
mapping), normalized. Variants:

- `separate`: what the service does (each clause embedded alone);
- `late`: clause tokens only, in the context of the whole passage;
- `late±N`: the clause's tokens and N more on each side;
- `sentence`: one forward pass per sentence, each clause pooled from its sentence's pass.

The variants plug into the unchanged `Service` as an embedder: a batch of passages also computes their
clauses' vectors, which the build's clause calls then take without running the model (a clause text
found in two passages keeps one vector, as the embedding cache would).

Quality: `qa.surfaces.evaluate.evaluate` (what `qa eval` runs) on the dev and extra sets over data/, and hit@1 of
their English questions (no Han character). Speed:
`Service.build(force=True)` with `separate` and with `late`, alternating with raw `encode` of the
passages, on synthesized documents as in bench/indexing.py; medians, and each build's rate ÷ raw.

    python bench/late_chunking.py --windows 2 5 --paragraphs 60 --repeats 3
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from common import DATA, DEV_SET, ROOT, corpus_passages, median, synthetic_documents

EXTRA_SET = ROOT / "tests" / "data" / "extra_questions.jsonl"


def late_vectors(embedder, texts: list[str], spans: list[list[tuple[int, int]]],
                 window: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """Each text's vector and its spans' vectors, from one forward pass of the prompted text."""
    import torch

    prompt = embedder.prompts["passage"]
    tokenizer, model = embedder.model.tokenizer, embedder.model[0].auto_model
    passages = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    clauses = [np.zeros((len(own), embedder.dim), dtype=np.float32) for own in spans]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), embedder.batch_size):
        rows = order[start : start + embedder.batch_size]
        batch = tokenizer([prompt + texts[i] for i in rows], padding=True, truncation=True,
                          max_length=embedder.model.max_seq_length, return_offsets_mapping=True, return_tensors="pt")
        offsets = batch.pop("offset_mapping").numpy() - len(prompt)  # character offsets within the text
        with torch.inference_mode():
            states = model(**batch).last_hidden_state.float().numpy()
        mask = batch["attention_mask"].numpy().astype(bool)
        for row, i in enumerate(rows):
            real = states[row][mask[row]]
            passages[i] = unit(real.mean(axis=0))  # the sentence-transformers vector: mean of every token
            begin, end = offsets[row][mask[row]].T
            in_text = end > 0  # not the prompt's tokens, nor <s> and </s> (offsets (0, 0))
            for j, (a, b) in enumerate(spans[i]):
                tokens = np.flatnonzero(in_text & (end > a) & (begin < b))
                if not len(tokens):  # cut off by the model's window: embed it alone
                    clauses[i][j] = embedder.embed([texts[i][a:b]], "passage")[0]
                    continue
                chosen = np.zeros_like(in_text)
                chosen[max(tokens[0] - window, 0) : tokens[-1] + window + 1] = True
                clauses[i][j] = unit(real[chosen & in_text].mean(axis=0))
    return passages, clauses


def sentence_vectors(embedder, texts: list[str], spans: list[list[tuple[int, int]]]) -> list[np.ndarray]:
    """Each text's spans' vectors, pooled from one forward pass of the sentence each span starts in."""
    from qa.core.text import split_sentences

    sentences, local, place = [], [], []
    for i, (text, own) in enumerate(zip(texts, spans)):
        bounds = split_sentences(text) or [(0, len(text))]
        first = len(sentences)
        sentences += [text[a:b] for a, b in bounds]
        local += [[] for _ in bounds]
        for a, b in own:
            k = max(n for n, (s, _) in enumerate(bounds) if s <= a or n == 0)
            s, e = bounds[k]
            place.append((i, first + k, len(local[first + k])))
            local[first + k].append((max(a, s) - s, min(b, e) - s))
    _, pooled = late_vectors(embedder, sentences, local)
    clauses = [np.zeros((len(own), embedder.dim), dtype=np.float32) for own in spans]
    counts = [0] * len(texts)
    for i, k, n in place:
        clauses[i][counts[i]] = pooled[k][n]
        counts[i] += 1
    return clauses


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


def make_embedder(torch_embedder, variant: str):
    """An Embedder for the service: `separate` is the torch embedder as the service runs it."""
    from qa.embed.base import Embedder
    from qa.core.text import clause_spans

    class ClausesFromPassages(Embedder):
        """A batch of passages also yields its clauses' vectors; the build's clause batches are served from them."""

        name, dim, prompts = torch_embedder.name, torch_embedder.dim, torch_embedder.prompts

        def __init__(self):
            self.clauses: dict[str, np.ndarray] = {}

        def embed(self, texts, kind):
            if kind == "passage" and texts and all(t in self.clauses for t in texts):
                return np.stack([self.clauses[t] for t in texts])
            if kind != "passage":
                return torch_embedder.embed(texts, kind)
            spans = [clause_spans(t) for t in texts]
            if variant == "sentence":
                passages, clauses = torch_embedder.embed(texts, kind), sentence_vectors(torch_embedder, texts, spans)
            else:
                window = int(variant.removeprefix("late±")) if "±" in variant else 0
                passages, clauses = late_vectors(torch_embedder, texts, spans, window)
            for text, own, vectors in zip(texts, spans, clauses):
                self.clauses.update((text[a:b], v) for (a, b), v in zip(own, vectors))
            return passages

    return torch_embedder if variant == "separate" else ClausesFromPassages()


def agreement(torch_embedder) -> None:
    """How close late-chunked clause vectors (whole-passage context) are to the same clauses embedded alone."""
    from qa.core.text import clause_spans

    texts = corpus_passages()
    spans = [clause_spans(t) for t in texts]
    _, late = late_vectors(torch_embedder, texts, spans)
    own, other, nearest = [], [], []
    for text, own_spans, vectors in zip(texts, spans, late):
        alone = torch_embedder.embed([text[a:b] for a, b in own_spans], "passage")
        cosines = vectors @ alone.T
        own += list(np.diag(cosines))
        other += list(cosines[~np.eye(len(cosines), dtype=bool)])
        nearest += list(cosines.argmax(axis=1) == np.arange(len(cosines)))
    print(f"\ndata/: {len(own)} clauses of {len(texts)} passages. Late-chunked clause vector against the clauses "
          f"embedded alone: mean cosine to its own clause {np.mean(own):.3f}, to the passage's other clauses "
          f"{np.mean(other):.3f}; its own clause is the nearest for {np.mean(nearest):.2f} of the clauses")


def quality(torch_embedder, variants: list[str]) -> None:
    """hit@1 / hit@5 / MRR@10 / span@1 of each variant on the dev and extra sets, over data/."""
    from qa.surfaces.evaluate import evaluate, read_questions
    from qa.service import Service

    sets = {"dev": read_questions(DEV_SET), "extra": read_questions(EXTRA_SET)}
    english = [q for questions in sets.values() for q in questions if not re.search(r"[\u4e00-\u9fff]", q.q)]
    print("| clause vectors | dev hit@1 | dev hit@5 | dev MRR@10 | dev span@1 | extra hit@1 | extra hit@5 "
          f"| extra MRR@10 | extra span@1 | English ({len(english)}) hit@1 |\n|---|" + "---:|" * 9)
    for variant in variants:
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(DATA, Path(tmp) / "data")
            service = Service(Path(tmp) / "data", Path(tmp) / "index", embedder=make_embedder(torch_embedder, variant))
            service.build()
            cells = []
            for questions in sets.values():
                r = evaluate(service, questions, 10)
                cells += [f"{r.hit_at_1:.2f}", f"{r.hit_at_5:.2f}", f"{r.mrr_at_10:.3f}", f"{r.span_at_1:.2f}"]
            cells.append(f"{evaluate(service, english, 10).hit_at_1:.2f}")
            print(f"| {variant} | " + " | ".join(cells) + " |", flush=True)


def throughput(torch_embedder, paragraphs: int, repeats: int) -> None:
    """Build time with separate and with late-chunked clause vectors, against raw encode of the passages."""
    from qa.service import Service

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        synthetic_documents(data, paragraphs)
        passages = corpus_passages(data)
        seconds: dict[str, list[float]] = {"raw": [], "separate": [], "late": []}
        for _ in range(repeats):
            for variant in ("separate", "late"):
                service = Service(data, Path(tmp) / f"index-{variant}", embedder=make_embedder(torch_embedder, variant))
                t = time.perf_counter()
                service.build(force=True)
                seconds[variant].append(time.perf_counter() - t)
            t = time.perf_counter()
            torch_embedder.model.encode(passages, prompt=torch_embedder.prompts["passage"],
                                        batch_size=torch_embedder.encode_batch, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
            seconds["raw"].append(time.perf_counter() - t)
    n, raw = len(passages), median(seconds["raw"])
    print(f"\n{n} passages (mean {np.mean([len(p) for p in passages]):.0f} chars), {repeats} alternating repeats, "
          f"medians\n| | seconds | passages/s | rate ÷ raw encode of the passages |\n|---|---:|---:|---:|")
    for name, label in (("raw", "raw `encode`, the passages"), ("separate", "`Service.build`, clauses embedded alone"),
                        ("late", "`Service.build`, late-chunked clauses")):
        s = median(seconds[name])
        print(f"| {label} | {s:.1f} | {n / s:.1f} | {raw / s:.2f} |")
    print("runs:", {k: [round(x, 1) for x in v] for k, v in seconds.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, nargs="*", default=[2, 5], help="late±N variants to score")
    parser.add_argument("--paragraphs", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from qa.embed.torch_embedder import SentenceTransformerEmbedder

    torch_embedder = SentenceTransformerEmbedder()
    torch_embedder.embed(["warm up"], "passage")
    quality(torch_embedder, ["separate", "late", *[f"late±{w}" for w in args.windows], "sentence"])
    agreement(torch_embedder)
    throughput(torch_embedder, args.paragraphs, args.repeats)


if __name__ == "__main__":
    main()
