"""Train the reader: `python -m qa.answer.reader.train --data train.jsonl --work DIR` (resumable; GPU when present).

Each question gives one window holding its answer, placed at random around it, and some give a window without
it (the rest of its passage, or another passage of the same source), labelled "no answer" (position 0). The
run writes a checkpoint and a line of progress to DIR every --save-every steps; run the same command again to
go on from the last checkpoint. `--export` writes the shipped weights from the last checkpoint.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.answer.reader.model import LAYERS, WEIGHTS, build_net, save_weights, trained_parameters
from qa.answer.reader.windows import PAD, encode, load_tokenizer, passage_budget, sliding_windows, token_span, window
from qa.core.files import write_atomically
from qa.core.overlap import char_f1, exact_match

NO_ANSWER_SHARE = 0.35  # questions that also give a window without their answer
MAX_ANSWER_TOKENS = 64


@dataclass
class Example:
    """One training window and the tokens where its answer starts and ends (0, 0: no answer in it)."""

    ids: list[int]
    start: int
    end: int


def read_items(path: Path) -> list[dict]:
    """The training questions: one JSON object per line (question, context, answers [{text, start}], source)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def split_items(items: list[dict], held_out: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Training items and `held_out` answerable ones to measure on, split by passage (its `group`, in every script
    it is written in) so that none is on both sides."""
    by_group: dict[str, list[dict]] = {}
    for it in items:
        by_group.setdefault(it.get("group", it["context"]), []).append(it)
    groups = sorted(by_group)
    random.Random(seed).shuffle(groups)
    held: set[str] = set()
    test: list[dict] = []
    for g in groups:
        if len(test) >= held_out:
            break
        held.add(g)
        test += [it for it in by_group[g] if it["answers"]]
    return [it for it in items if it.get("group", it["context"]) not in held], test[:held_out]


def make_examples(items: list[dict], tokenizer, seed: int) -> list[Example]:
    """The training windows, in a fixed order for the seed (so a resumed run sees the same stream)."""
    rng = random.Random(seed)
    contexts = sorted({it["context"] for it in items})
    encoded = dict(zip(contexts, encode(tokenizer, contexts)))
    questions = encode(tokenizer, [it["question"] for it in items])
    by_source: dict[str, list[str]] = {}
    for it in items:
        by_source.setdefault(it.get("source", ""), []).append(it["context"])
    out = []
    for it, q in zip(items, questions):
        passage = encoded[it["context"]]
        budget = passage_budget(q.ids)
        n = len(passage.ids)
        if it["answers"]:
            a = it["answers"][0]
            w = window(q.ids, passage, 0, n)
            span = token_span(w, a["start"], a["start"] + len(a["text"]))
            if span is None:
                continue
            first, last = span[0] - w.first, span[1] - w.first
            if last - first >= min(budget, MAX_ANSWER_TOKENS):
                continue
            lo, hi = max(0, last - budget + 1), min(first, max(0, n - budget))
            s = rng.randint(lo, max(lo, hi))
            w = window(q.ids, passage, s, s + budget)
            out.append(Example(w.ids, first - s + w.first, last - s + w.first))
            if rng.random() >= NO_ANSWER_SHARE:
                continue
            outside = [s2 for s2 in range(0, max(1, n - budget + 1), max(1, budget // 2))
                       if s2 + budget <= first or s2 > last]
            if outside:
                s2 = rng.choice(outside)
                out.append(Example(window(q.ids, passage, s2, s2 + budget).ids, 0, 0))
                continue
        others = by_source[it.get("source", "")]
        other = encoded[others[rng.randrange(len(others))]]
        if other is passage:
            continue
        s2 = rng.randint(0, max(0, len(other.ids) - budget))
        out.append(Example(window(q.ids, other, s2, s2 + budget).ids, 0, 0))
    rng.shuffle(out)
    return out


def batch_tensors(batch: list[Example], device):
    """Padded ids, mask and the start/end labels of a batch."""
    import torch

    width = max(len(e.ids) for e in batch)
    ids = torch.full((len(batch), width), PAD, dtype=torch.long)
    for i, e in enumerate(batch):
        ids[i, :len(e.ids)] = torch.tensor(e.ids)
    mask = (ids != PAD).long()
    starts = torch.tensor([e.start for e in batch])
    ends = torch.tensor([e.end for e in batch])
    return ids.to(device), mask.to(device), starts.to(device), ends.to(device)


def best_span(start_logits: np.ndarray, end_logits: np.ndarray, first: int, last: int) -> tuple[float, int, int]:
    """The best (score, start, end) with first <= start <= end <= last and at most MAX_ANSWER_TOKENS tokens."""
    s = start_logits[first:last + 1]
    e = end_logits[first:last + 1]
    scores = s[:, None] + e[None, :]
    n = len(s)
    allowed = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), MAX_ANSWER_TOKENS)
    scores = np.where(allowed, scores, -np.inf)
    i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return float(scores[i, j]), first + int(i), first + int(j)


def evaluate(net, items: list[dict], tokenizer, device) -> dict:
    """EM and F1 of the best span over all windows of each held-out question's passage."""
    import torch

    net.eval()
    em = f1 = 0.0
    with torch.no_grad():
        for it in items:
            q = encode(tokenizer, [it["question"]])[0]
            passage = encode(tokenizer, [it["context"]])[0]
            windows = sliding_windows(q.ids, passage)
            ids, mask, _, _ = batch_tensors([Example(w.ids, 0, 0) for w in windows], device)
            start, end = (t.float().cpu().numpy() for t in net(ids, mask))
            best = max((best_span(start[k], end[k], w.first, w.first + len(w.offsets) - 1), k)
                       for k, w in enumerate(windows))
            (_, i, j), k = best
            a, b = windows[k].char_span(i, j)
            guess = it["context"][a:b]
            golds = [x["text"] for x in it["answers"]]
            em += exact_match(guess, golds)
            f1 += char_f1(guess, golds)
    net.train()
    return {"em": round(em / max(1, len(items)), 4), "f1": round(f1 / max(1, len(items)), 4)}


def main(argv: list[str] | None = None) -> None:
    """Train, resume or export the reader (see the module docstring)."""
    import torch

    from qa.embed.convert import default_model_path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="training questions, JSONL")
    parser.add_argument("--work", type=Path, required=True, help="checkpoints and progress go here")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--layers", type=int, default=LAYERS)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--save-every", type=int, default=50)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--held-out", type=int, default=200)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    parser.add_argument("--export", type=Path, nargs="?", const=WEIGHTS, help="write the shipped weights and stop")
    args = parser.parse_args(argv)

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model_dir = default_model_path()
    tokenizer = load_tokenizer(str(model_dir))
    net = build_net(model_dir, args.layers).to(device)
    for name, p in net.named_parameters():
        p.requires_grad = name in trained_parameters(net)
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    warmup = max(1, args.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (args.steps - s) / max(1, args.steps - warmup)))
    args.work.mkdir(parents=True, exist_ok=True)
    checkpoint = args.work / "checkpoint.pt"
    step = 0
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        net.load_state_dict(state["net"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step = state["step"]
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed at step {step}", flush=True)
    meta = {"data": args.data.name, "steps": step, "batch": args.batch, "lr": args.lr, "layers": args.layers,
            "seed": args.seed}
    if args.export:
        save_weights(net, args.export, {**meta, "trained_steps": step})
        print(f"wrote {args.export} ({args.export.stat().st_size / 2**20:.1f} MiB) from step {step}")
        return

    items = read_items(args.data)
    train_items, held = split_items(items, args.held_out, args.seed)
    examples = make_examples(train_items, tokenizer, args.seed)
    print(f"{len(train_items)} questions -> {len(examples)} windows; {len(held)} held out; device {device}",
          flush=True)
    net.train()
    with open(args.work / "progress.jsonl", "a", encoding="utf-8") as progress:
        run(net, optimizer, schedule, examples, held, tokenizer, device, args, step, checkpoint, progress)
    save_weights(net, args.export or WEIGHTS, {**meta, "trained_steps": args.steps})


def run(net, optimizer, schedule, examples: list[Example], held: list[dict], tokenizer, device, args, step: int,
        checkpoint: Path, progress) -> None:
    """The training loop from `step` to args.steps: a checkpoint and a progress line every args.save_every steps."""
    import torch

    params = [p for p in net.parameters() if p.requires_grad]
    loss_sum, seen, started = 0.0, 0, time.time()
    loss_fn = torch.nn.CrossEntropyLoss()
    while step < args.steps:
        at = (step * args.batch) % max(1, len(examples))
        batch = examples[at:at + args.batch] or examples[:args.batch]
        ids, mask, starts, ends = batch_tensors(batch, device)
        start, end = net(ids, mask)
        blocked = mask == 0
        loss = (loss_fn(start.masked_fill(blocked, -1e4), starts) + loss_fn(end.masked_fill(blocked, -1e4), ends)) / 2
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        step += 1
        loss_sum, seen = loss_sum + loss.item(), seen + 1
        if step % args.save_every == 0 or step == args.steps:
            record = {"step": step, "loss": round(loss_sum / seen, 4), "lr": schedule.get_last_lr()[0],
                      "windows_per_s": round(seen * args.batch / (time.time() - started), 2)}
            if step % args.eval_every == 0 or step == args.steps:
                record |= evaluate(net, held, tokenizer, device)
            state = {"net": {k: v for k, v in net.state_dict().items() if not k.startswith("bert.embeddings.")},
                     "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(), "step": step,
                     "torch_rng": torch.get_rng_state()}
            write_atomically(checkpoint, lambda path: torch.save(state, path))
            progress.write(json.dumps(record) + "\n")
            progress.flush()
            print(json.dumps(record), flush=True)
            loss_sum, seen, started = 0.0, 0, time.time()


if __name__ == "__main__":
    main()
