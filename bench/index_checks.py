"""What checking every byte of an index costs when it is opened: a build folder the size of a 1M-passage index.

    python bench/index_checks.py                 # 1M passages' worth of files (~3 GB under a temp folder)
    python bench/index_checks.py --passages 100000 --rounds 3

The files hold random bytes in the sizes a FolderStore build of that many passages has (three clauses
each; "Search at scale": 2,969 MiB on disk at 1M, most of it the float16 clause vectors): the cost of a
checksum depends on the bytes only. Side by side, in one run, on the same files with the page cache warm
(the files were just written or read, as on a machine that serves the index): the check the service
makes now (`qa.index.faiss_store.file_check`: xxh3-128 over all of every file), the same over all of
every file with blake2b (the hash used before), and the sampled check used before (whole files up to
64 MB, 64 blocks of 64 KB spread over larger ones), which missed damage between its blocks.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

from common import median, print_table

# Bytes per passage of each build file (a 1M build of qa.index.ann's ivf-sq8, three 384-d clauses per passage).
PER_PASSAGE = {
    "vectors.faiss": 392,  # sq8 codes and ids, with the IVF lists
    "clause_vectors.npy": 3 * 384 * 2,  # float16
    "clauses.npy": 3 * 4 * 8,  # (passage id, start, end, kinds) int64
    "passages.sqlite": 240,
    "lexical/data.csc.index.npy": 80,
}


def write_files(folder: Path, passages: int) -> int:
    """Random bytes in each build file's size; the total."""
    total = 0
    for name, per in PER_PASSAGE.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        size = per * passages
        with open(path, "wb") as f:
            for start in range(0, size, 64 << 20):
                f.write(os.urandom(min(64 << 20, size - start)))
        total += size
    return total


def whole(path: Path, digest) -> str:
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sampled_blake2b(path: Path) -> str:
    """The check before: whole files up to 64 MB, else 64 blocks of 64 KB spread over the file."""
    size, digest = path.stat().st_size, hashlib.blake2b(digest_size=16)
    if size <= 64 << 20:
        return whole(path, digest)
    with open(path, "rb") as f:
        for k in range(64):
            f.seek(k * (size - (64 << 10)) // 63)
            digest.update(f.read(64 << 10))
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from qa.index.faiss_store import file_check

    checks = {
        "xxh3-128, every byte (now)": file_check,
        "blake2b, every byte": lambda p: whole(p, hashlib.blake2b(digest_size=16)),
        "blake2b, sampled (before)": sampled_blake2b,
    }
    with tempfile.TemporaryDirectory(dir=Path.home()) as tmp:
        folder = Path(tmp)
        total = write_files(folder, args.passages)
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        seconds = {name: [] for name in checks}
        for _ in range(args.rounds):  # alternating, so that the machine's load falls on each alike
            for name, check in checks.items():
                started = time.perf_counter()
                for path in files:
                    check(path)
                seconds[name].append(time.perf_counter() - started)
    now = median(seconds["xxh3-128, every byte (now)"])
    print(f"{args.passages:,} passages' build files: {total / 2**20:,.0f} MiB, {args.rounds} rounds, warm page cache")
    print_table([{"check": name, "seconds (median)": round(median(s), 3), "x the check now": round(median(s) / now, 2),
                  "GB/s": round(total / 1e9 / median(s), 1)} for name, s in seconds.items()])


if __name__ == "__main__":
    main()
