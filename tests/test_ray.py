"""Builds embedded on a Ray cluster (qa index --ray): the same index as a local build, a worker killed half way,
a cluster that is not there."""
from __future__ import annotations

import json
import os
import sqlite3
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from qa.core.errors import QAError
from qa.core.settings import Settings, check_ray_address
from qa.embed.base import Embedder, embed_each
from qa.surfaces.cli import main
from tests.conftest import DATA, DEV_SET, ROOT
from tests.ray_cluster import HEAD, START, STOP, run_private, unavailable

QUESTIONS = [json.loads(line)["q"] for line in (ROOT / "tests" / "data" / "extra_questions.jsonl").open()]


class Flaky(Embedder):
    """Fails every batch that holds a text with "bad" in it."""

    name, dim = "flaky", 3

    def embed(self, texts, kind):
        if any("bad" in t for t in texts):
            raise ValueError("cannot embed this")
        return np.ones((len(texts), self.dim), dtype=np.float32)


def test_a_failing_text_is_left_out_alone_and_parts_cover_every_text():
    flaky = Flaky()
    flaky.batch_size = 3
    texts = ["a", "b", "bad", "c", "d", "bad too", "e"]
    parts = list(flaky.embed_parts(texts, "passage"))
    assert [p.positions for p in parts] == [[0, 1, 2], [3, 4, 5], [6]]
    assert {p for part in parts for p in part.failed} == {2, 5}
    part = embed_each(flaky, ["x", "bad"], "passage", start=10)
    assert part.positions == [10, 11] and list(part.failed) == [11]
    assert part.vectors[0].tolist() == [1, 1, 1] and part.vectors[1].tolist() == [0, 0, 0]


@pytest.mark.parametrize("address", ["6379", "host:", "host:99999", "host:port", "ray://host:10001"])
def test_a_wrong_address_says_what_it_takes(address):
    with pytest.raises(QAError, match="auto.*local.*HOST:PORT"):
        check_ray_address(address)


def test_ray_settings_come_from_the_environment():
    settings = Settings.from_env({"QA_RAY": " auto ", "QA_RAY_WORKERS": "3"})
    assert (settings.ray, settings.ray_workers) == ("auto", 3)
    with pytest.raises(QAError, match="QA_RAY_WORKERS"):
        Settings.from_env({"QA_RAY_WORKERS": "-1"})
    with pytest.raises(QAError, match="HOST:PORT .*, not 'head'"):
        Settings.from_env({"QA_RAY": "head"})
    assert Settings.from_env({}).ray == ""  # builds embed here


@pytest.mark.parametrize("address, says", [("127.0.0.1:1", "No Ray cluster answers at 127.0.0.1:1"),
                                           ("auto", "Could not join the Ray cluster at auto"),
                                           ("nowhere", "HOST:PORT")])
def test_a_cluster_that_is_not_there_is_one_line(tmp_path, monkeypatch, address, says):
    pytest.importorskip("ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))  # where `ray start` would have left the address for auto
    shutil.copytree(DATA, tmp_path / "data")
    result = CliRunner().invoke(main, ["index", "--data", str(tmp_path / "data"), "--index", str(tmp_path / "index"),
                                       "--ray", address])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("error: ") and says in result.output
    assert not (tmp_path / "index" / "manifest.json").exists()


@pytest.fixture(scope="module")
def private_ray():
    reason = unavailable()
    if reason:
        if os.environ.get("QA_REQUIRE_RAY") == "1":
            pytest.fail(f"QA_REQUIRE_RAY=1 but {reason}")
        pytest.skip(reason)


def qa_index(data: Path, index: Path, address: str, store: str = "faiss") -> str:
    """The command line of a Ray build, quoted for bash."""
    return shlex.join(["qa", "index", "--data", str(data), "--index", str(index), "--ray", address,
                       "--ray-workers", "2", "--store", store])


def local_build(data: Path, index: Path, embedder, store: str = "faiss"):
    from qa.service import Service

    service = Service(data, index, embedder=embedder, settings=Settings(reader=False, store=store))
    service.build()
    return service


def assert_same_index(local, data: Path, index: Path, embedder, questions: list[str], top_5: bool = True,
                      store: str = "faiss") -> None:
    """Same passages with the same vectors (their cosines to each question), and for every question the same top 5
    (unless `top_5` is False: a folder of near copies, whose ties float noise may swap)."""
    built = local_build(data, index, embedder, store)
    assert built.stale_reason() is None  # a Ray build is a finished build of this folder, not a partial one
    ours, theirs = built.open(), local.open()
    ids = np.arange(theirs.manifest.passages)
    assert ours.manifest.passages == len(ids)
    assert ([p.text for p in ours.passages(ids.tolist()).values()]
            == [p.text for p in theirs.passages(ids.tolist()).values()])
    for question in questions:
        query = embedder.embed([question], "query")[0]
        assert np.allclose(ours.cosines(query, ids), theirs.cosines(query, ids), atol=1e-3), question
        if top_5:
            hits, expected = built.ask(question), local.ask(question)
            assert [(h.document, h.position) for h in hits] == [(h.document, h.position) for h in expected], question
    built.close()


@pytest.mark.slow
@pytest.mark.parametrize("address, store", [(HEAD, "faiss"), ("local", "faiss"), ("local", "milvus")],
                         ids=["ray-start-head", "local", "local-into-milvus-lite"])
def test_a_two_worker_build_gives_the_local_index(private_ray, real_embedder, tmp_path, address, store):
    stores = {"local": "faiss", "ray": "faiss"} if store == "faiss" else {
        name: f"milvus:{tmp_path / name}.db" for name in ("local", "ray")}
    shutil.copytree(DATA, tmp_path / "data")
    local = local_build(tmp_path / "data", tmp_path / "local", real_embedder, stores["local"])
    start = START if address == HEAD else ""
    build = qa_index(tmp_path / "data", tmp_path / "ray", address, stores["ray"])
    done = run_private(f"{start}\n{build}\necho rc=$?\n{STOP}")
    assert "rc=0" in done.stdout, done.stdout + done.stderr
    assert "on the Ray cluster" in done.stderr and "2 workers" in done.stderr
    dev = [json.loads(line)["q"] for line in DEV_SET.open()] if DEV_SET.exists() else []
    assert_same_index(local, tmp_path / "data", tmp_path / "ray", real_embedder, QUESTIONS + dev,
                      store=stores["ray"])


def many_documents(folder: Path, copies: int) -> None:
    """`copies` of data/'s articles, each line numbered apart, so that every passage and clause is new to embed."""
    folder.mkdir()
    for n in range(copies):
        for source in sorted(DATA.glob("*.txt")):
            lines = [f"{n}-{i}、{line}" if line.strip() else line
                     for i, line in enumerate(source.read_text(encoding="utf-8").splitlines())]
            (folder / f"{n}-{source.name}").write_text("\n".join(lines), encoding="utf-8")


KILL_A_WORKER = """
{start}
{index} 2>"$RAY_TMP/index.err" &
build=$!
for i in $(seq 1200); do grep -q "Embedding texts:" "$RAY_TMP/index.err" && break; sleep 0.1; done
worker=$(pgrep -f MapWorker | head -1)
kill -0 $build && [ -n "$worker" ] && kill -9 $worker && echo "killed a worker while building"
wait $build
echo rc=$?
cat "$RAY_TMP/index.err"
{stop}
"""


@pytest.mark.slow
def test_a_worker_killed_half_way_is_replaced_and_the_build_finishes(private_ray, real_embedder, tmp_path):
    many_documents(tmp_path / "data", copies=8)  # ~900 texts to embed: seconds on two workers
    local = local_build(tmp_path / "data", tmp_path / "local", real_embedder)
    done = run_private(KILL_A_WORKER.format(start=START, index=qa_index(tmp_path / "data", tmp_path / "ray", HEAD),
                                            stop=STOP))
    assert "killed a worker while building" in done.stdout, done.stdout + done.stderr
    assert "rc=0" in done.stdout, done.stdout + done.stderr
    assert_same_index(local, tmp_path / "data", tmp_path / "ray", real_embedder, QUESTIONS[:10], top_5=False)


STOP_THE_CLUSTER = """
{start}
{index} 2>"$RAY_TMP/index.err" &
build=$!
for i in $(seq 1200); do grep -q "Embedding texts:" "$RAY_TMP/index.err" && break; sleep 0.1; done
kill -0 $build && {stop} && echo "stopped the cluster while building"
wait $build
echo rc=$?
"""


@pytest.mark.slow
def test_a_cluster_stopped_half_way_leaves_the_index_as_it_was(private_ray, real_embedder, tmp_path):
    from qa.index.factory import open_store
    from qa.index.sync import CACHE_FILE

    shutil.copytree(DATA, tmp_path / "data")
    local_build(tmp_path / "data", tmp_path / "index", real_embedder).close()
    manifest = (tmp_path / "index" / "manifest.json").read_bytes()
    many_documents(tmp_path / "more", copies=8)
    for file in (tmp_path / "more").iterdir():
        shutil.move(file, tmp_path / "data" / file.name)
    done = run_private(STOP_THE_CLUSTER.format(start=START, stop=STOP,
                                               index=qa_index(tmp_path / "data", tmp_path / "index", HEAD)))
    assert "stopped the cluster while building" in done.stdout, done.stdout + done.stderr
    assert "rc=0" not in done.stdout  # Ray ends its driver when its cluster goes
    assert (tmp_path / "index" / "manifest.json").read_bytes() == manifest  # nothing committed: the old index
    assert open_store("faiss", tmp_path / "index").damage() == ""
    cache = sqlite3.connect(tmp_path / "index" / CACHE_FILE)
    assert cache.execute("SELECT COUNT(*) FROM vectors").fetchone()[0] > 448  # the new vectors made are kept


WORKERS_THAT_CANNOT_START = '''
import operator
from qa.core.errors import QAError
from qa.core.settings import Settings, check_ray_address
from qa.embed.base import Embedder
from qa.embed.ray_cluster import RayEmbedder

class Named(Embedder):
    name, dim = "named", 3
    def embed(self, texts, kind):
        raise AssertionError("questions only")

# A worker's embedder that cannot be made (on a machine without qa's model, say): TypeError, every time.
cluster = RayEmbedder(Named(), Settings(ray="local", ray_workers=2), operator.itemgetter(0))
try:
    list(cluster.embed_parts(["one", "two"], "passage"))
except QAError as e:
    print("QAError:", e)
'''


@pytest.mark.slow
def test_workers_that_cannot_start_fail_the_build_in_one_line(private_ray, tmp_path):
    script = tmp_path / "broken.py"
    script.write_text(WORKERS_THAT_CANNOT_START, encoding="utf-8")
    done = run_private(f"python {shlex.quote(str(script))}", timeout=300)
    said = [line for line in done.stdout.splitlines() if line.startswith("QAError:")]
    assert len(said) == 1, done.stdout + done.stderr
    assert "TypeError: 'Settings' object is not subscriptable" in said[0] and "index is unchanged" in said[0]
