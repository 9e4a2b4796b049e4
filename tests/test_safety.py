"""Hard to break: hostile questions, damaged index files, safe defaults and the optional login."""

from __future__ import annotations

import shutil

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AuthenticationError

from qa import QAError, Service
from qa.core.settings import Settings, parse_auth
from qa.surfaces.web import create_app
from tests.live import serving_app


@pytest.mark.parametrize("question", [
    "横沥镇" * 40_000,                      # 120,000 characters
    "党员\x00\x07\x1b[31m数量\u202e",          # control characters, an ANSI escape, a bidi override
    "😀🎉 党员有多少？ 👍🏽",                    # emoji
    "كم عدد أعضاء الحزب في هنغلي؟",           # right-to-left script
    "How many 党员 does Hengli 镇 have? Сколько?",  # mixed scripts
    "<script>alert(1)</script>",
])
def test_hostile_questions_get_answers_not_errors(service, question):
    hits = service.ask(question, top_k=3)
    assert len(hits) == 3 and all(h.text for h in hits)


def test_truncated_vector_file_is_detected_and_rebuild_recovers(service):
    vectors = next(service.index_dir.glob("build-*/vectors.faiss"))
    vectors.write_bytes(vectors.read_bytes()[:100])
    with pytest.raises(QAError, match="damaged.*--rebuild"):
        service.store.open()
    fresh = Service(service.data_dir, service.index_dir, embedder=service.embedder)
    assert "vectors.faiss" in fresh.stale_reason()
    assert fresh.ask("党员") and fresh.stale_reason() is None  # built again on first use


def test_files_from_different_builds_are_detected(service, tmp_path, fake_embedder):
    other = Service(service.data_dir, tmp_path / "other", embedder=fake_embedder)
    (service.data_dir / "extra.txt").write_text("新文档\n横沥镇今年新建了三座图书馆，方便群众读书学习。\n", encoding="utf-8")
    other.build()
    ours = next(service.index_dir.glob("build-*"))
    shutil.copy(next((tmp_path / "other").glob("build-*/passages.sqlite")), ours / "passages.sqlite")
    with pytest.raises(QAError, match="damaged.*passages.sqlite.*rebuild"):
        service.store.open()
    assert "passages.sqlite" in Service(service.data_dir, service.index_dir, embedder=fake_embedder).stale_reason()


def test_serve_binds_loopback_and_shares_nothing_by_default():
    settings = Settings.from_env({})
    assert settings.host == "127.0.0.1" and settings.auth is None  # `qa serve` and app.py without QA_HOST, QA_AUTH
    assert parse_auth("") is None


@pytest.mark.parametrize("value, expected", [
    ("alice:s3cret", [("alice", "s3cret")]),
    ("alice:pw:with:colons, bob:x", [("alice", "pw:with:colons"), ("bob", "x")]),
])
def test_parse_auth_reads_logins(value, expected):
    assert parse_auth(value) == expected


@pytest.mark.parametrize("value", ["alice", ":pw", "alice:", "  :  ", "alice: "])
def test_parse_auth_rejects_malformed_or_blank_logins(value):
    with pytest.raises(QAError, match="QA_AUTH"):
        parse_auth(value)


def test_login_protects_the_json_endpoint_and_the_page(service):
    with serving_app(create_app(service, auth=[("alice", "s3cret")])) as url:
        body = {"question": "党员", "top_k": 1}
        assert httpx.post(f"{url}/api/ask", json=body, timeout=60).status_code == 401
        assert httpx.post(f"{url}/api/ask", json=body, auth=("alice", "wrong"), timeout=60).status_code == 401
        ok = httpx.post(f"{url}/api/ask", json=body, auth=("alice", "s3cret"), timeout=60)
        assert ok.status_code == 200 and ok.json()["hits"]
        with pytest.raises(AuthenticationError, match="credentials were not provided"):
            Client(url + "/", verbose=False)
        with pytest.raises(ValueError, match="Could not login"):
            Client(url + "/", auth=("alice", "wrong"), verbose=False)
        result = Client(url + "/", auth=("alice", "s3cret"), verbose=False).predict("党员", 1, api_name="/ask")
        assert result["hits"]
