"""Crash safety: `qa index` killed at any moment leaves a complete index, and two builders never interleave."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from qa.service import Service
from qa.index.faiss_store import FolderStore
from tests.conftest import DATA, ROOT

pytestmark = pytest.mark.slow

QUESTION, EVIDENCE = "横沥镇有多少名党员？", "全镇共有党员1724名"


def _qa_index(data, index) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "qa", "index", "--data", str(data), "--index", str(index)]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_sigkill_at_random_moments_leaves_old_or_new_index(tmp_path, real_embedder):
    data, index = tmp_path / "data", tmp_path / "index"
    shutil.copytree(DATA, data)
    Service(data, index, embedder=real_embedder).build()

    # How long one update takes, to spread the kills over all of it (start-up, reading, embedding, writing).
    (data / "note-0.txt").write_text("标题\n横沥镇新建了第0个社区图书馆，方便群众就近读书学习。\n", encoding="utf-8")
    started = time.perf_counter()
    assert _qa_index(data, index).wait(timeout=300) == 0
    duration = time.perf_counter() - started

    rng = random.Random(20261122)
    builds_seen = set()
    for run in range(1, 21):
        # each run has something new to index, so each kill can land in a real build
        (data / f"note-{run}.txt").write_text(
            f"标题\n横沥镇新建了第{run}个社区图书馆，藏书{run * 1000}册，方便群众就近读书学习。\n", encoding="utf-8")
        proc = _qa_index(data, index)
        time.sleep(rng.uniform(0.0, duration * 1.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)

        loaded = FolderStore(index).open()  # raises QAError if the files on disk are incomplete or mixed
        builds_seen.add(loaded.manifest.build)
        assert loaded.store.count() == len(loaded.vectors)
        loaded.close()
        hits = Service(data, index, embedder=real_embedder).ask(QUESTION, top_k=3)
        assert any(EVIDENCE in h.text for h in hits), f"run {run}"
    assert len(builds_seen) > 1  # some kills came after a new build was swapped in, some before


def test_two_builders_never_interleave(tmp_path, real_embedder):
    data, index = tmp_path / "data", tmp_path / "index"
    shutil.copytree(DATA, data)
    first, second = _qa_index(data, index), _qa_index(data, index)
    outs = [p.communicate(timeout=600) for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outs
    stdout = [o[0] for o in outs]
    # exactly one of them built; the other waited for it and found nothing left to do
    assert sum("Nothing to do" in s for s in stdout) == 1, stdout
    assert any("waiting for it to finish" in err for _, err in outs), outs
    assert len(list(index.glob("build-*"))) == 1
    assert EVIDENCE in Service(data, index, embedder=real_embedder).ask(QUESTION)[0].text
