"""Real-world input never breaks it: odd characters, odd files, odd folders, odd requests, a full disk, damage."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from click.testing import CliRunner

import qa.surfaces.cli
from qa import QAError, Service, Settings
from qa.core.errors import AnswerFailed
from qa.read.folder import list_files, read_documents
from qa.read.plaintext import parse_document
from qa.index.faiss_store import FaissVectors
from qa.surfaces.page.handlers import add_files, neighbour_texts
from qa.surfaces import web
from qa.surfaces.web import HEADER_SECONDS, UPLOAD_ROUTE, create_app, server_options, upload_folder
from tests.conftest import DATA, LIBRARY, PARTY, ROOT, FakeEmbedder
from tests.live import free_port, serving_app
from tests.make_docs import crafted_docx, crafted_pdf, pdf_file, real_article

QUICK = Settings(read_seconds=3)  # crafted files are stopped after 3 s instead of 20


def quick_service(folders, embedder=None, **settings) -> Service:
    from dataclasses import replace

    return Service(*folders, embedder=embedder or FakeEmbedder(), settings=replace(QUICK, **settings))


# Short documents keep their text: the furniture rules are for scraped pages.

@pytest.mark.parametrize("text, words", [
    ("周三下午停水，请提前储水。", ["周三下午停水"]),
    ("问：图书馆几点开门？\n答：每天早上九点开门。", ["几点开门", "早上九点"]),
    ("值班表\n周一 王强\n周二 李娜\n周三 张伟", ["周二 李娜"]),
    ("项目 数量\n党员 1724名\n支部 154个", ["党员 1724名", "支部 154个"]),
])
def test_short_documents_keep_their_text(text, words, folders):
    doc = parse_document(text, "notice.txt")
    body = "\n".join(p.text for p in doc.paragraphs)
    assert all(w in body for w in words), body
    (folders[0] / "notice.txt").write_text(text, encoding="utf-8")
    service = quick_service(folders)
    assert not service.build().warnings
    assert words[0] in service.ask(words[0], top_k=1)[0].text


# One bad document never sinks the build.

def test_a_reader_failure_skips_that_document_only(folders, monkeypatch):
    import qa.read.folder

    real = qa.read.folder.read_document
    monkeypatch.setattr(qa.read.folder, "read_document",
                        lambda path, root: (_ for _ in ()).throw(KeyError("parser bug")) if path.name == PARTY
                        else real(path, root))
    report = quick_service(folders).build()
    assert report.documents == 1 and len(report.warnings) == 1 and PARTY in report.warnings[0]
    assert "KeyError" in report.warnings[0]


def test_a_splitting_failure_skips_that_document_only(folders, monkeypatch):
    import qa.index.sync

    real = qa.index.sync.split_passages
    monkeypatch.setattr(qa.index.sync, "split_passages",
                        lambda doc: (_ for _ in ()).throw(IndexError("chunking bug")) if doc.document == PARTY
                        else real(doc))
    report = quick_service(folders).build()
    assert report.documents == 1 and [w for w in report.warnings if PARTY in w and "split" in w]


class PickyEmbedder(FakeEmbedder):
    """Fails on any batch holding a degree sign, as the tokenizer once did."""

    def embed(self, texts, kind):
        if any("°" in t for t in texts):
            raise RuntimeError("index out of bounds: the len is 9854 but the index is 9855")
        return super().embed(texts, kind)


def test_an_embedding_failure_skips_that_document_and_a_failing_question_is_one_error(folders):
    (folders[0] / "weather.txt").write_text("天气\n夏天最高气温达到38°C，请市民注意防暑降温，减少户外活动。\n", encoding="utf-8")
    service = quick_service(folders, PickyEmbedder())
    report = service.build()
    assert report.documents == 2 and any("weather.txt" in w and "embedded" in w for w in report.warnings)
    assert service.ask("横沥镇有多少名党员？")
    with pytest.raises(AnswerFailed, match="could not be answered"):
        service.ask("夏天气温多少°C？")
    with serving_app(create_app(service)) as url:  # not the asker's fault: a 500 that says why, not a 400
        response = httpx.post(f"{url}/api/ask", json={"question": "夏天气温多少°C？"}, timeout=60)
        assert response.status_code == 500 and "could not be answered" in response.json()["detail"]


def test_a_broken_model_fails_the_build_instead_of_dropping_everything(folders):
    class Broken(FakeEmbedder):
        def embed(self, texts, kind):
            raise RuntimeError("no model")

    with pytest.raises(QAError, match="failed on every text"):
        quick_service(folders, Broken()).build()


# Crafted files, odd names, links, sizes.

def test_crafted_pdf_and_docx_are_stopped_and_skipped(folders):
    data = folders[0]
    (data / "crafted.pdf").write_bytes(crafted_pdf())
    (data / "crafted.docx").write_bytes(crafted_docx())
    report = quick_service(folders).build()
    assert report.documents == 2
    stopped = [w for w in report.warnings if "took longer than 3 s" in w]
    assert len(stopped) == 2 and any("crafted.pdf" in w for w in stopped) and any("crafted.docx" in w for w in stopped)


def test_names_links_and_sizes_that_cannot_be_indexed_are_skipped_with_one_warning_each(folders, tmp_path):
    data = folders[0]
    secret = tmp_path / "secret.txt"
    secret.write_text("机密\n这是数据文件夹以外的机密文件，内容绝不能被检索出来，口令是蓝色大象。\n", encoding="utf-8")
    (data / "link.txt").symlink_to(secret)
    (data / "outside").symlink_to(tmp_path)
    with open(os.path.join(os.fsencode(data), b"bad\xff\xfe.txt"), "wb") as f:
        f.write(LIBRARY.encode())
    (data / "huge.txt").write_bytes(("横沥镇" * 200_000 + "\n").encode() * 2)  # 3.6 MB
    listing = list_files(data, max_bytes=1 << 20)
    assert sorted(p.name for p in listing.files) == sorted([PARTY, "hengli-2023-high-quality-development.txt"])
    assert len(listing.skipped) == 4 and {s.path for s in listing.skipped} >= {"outside", "huge.txt"}
    service = quick_service(folders, max_document_mb=1)
    report = service.build()
    assert len(report.warnings) == 4 and report.documents == 2
    assert all("口令" not in h.text for h in service.ask("口令是什么？", top_k=5))
    assert service.build().warnings == []  # said once: nothing changed, nothing said again


def test_a_loop_of_links_is_one_skipped_file_and_the_rest_is_answered(folders):
    data, _ = folders
    (data / "self.txt").symlink_to("self.txt")
    (data / "a.txt").symlink_to("b.txt")
    (data / "b.txt").symlink_to("a.txt")
    (data / "loop").symlink_to("loop")
    listing = list_files(data)
    assert sorted(s.path for s in listing.skipped) == ["a.txt", "b.txt", "self.txt"]
    assert all("loop of links" in s.reason for s in listing.skipped)
    service = quick_service(folders)
    assert service.build().documents == 2
    assert service.ask("全镇共有多少名党员？", top_k=1)[0].document == PARTY
    run = CliRunner().invoke(qa.surfaces.cli.main, ["index", "--data", str(data), "--index", str(folders[1])])
    assert run.exit_code == 0 and "Traceback" not in run.output, run.output


def test_a_file_swapped_for_a_link_to_an_outside_file_after_the_listing_is_not_read(folders, tmp_path):
    data, _ = folders
    secret = tmp_path / "secret.txt"
    secret.write_text("口令是天王盖地虎。\n" * 5, encoding="utf-8")
    listing = list_files(data)
    swapped = data / PARTY
    swapped.unlink()
    swapped.symlink_to(secret)  # after the listing, before the read
    reading = read_documents(data, listing.files)
    assert [s.path for s in reading.skipped] == [PARTY] and "outside the data folder" in reading.skipped[0].reason
    assert all("口令" not in d.text for d in reading.documents)


def test_build_progress_is_reported_by_stage_and_in_lines_off_a_terminal(folders, monkeypatch):
    heard = []
    quick_service(folders).build(progress=lambda stage, done, total: heard.append((stage, done, total)))
    stages = list(dict.fromkeys(s for s, _, _ in heard))
    assert stages == ["read", "split", "embed", "write"] and heard[-1] == ("write", 1, 1)
    assert ("read", 2, 2) in heard and all(0 <= d <= t for _, d, t in heard)

    monkeypatch.setattr(qa.surfaces.cli, "_service", lambda *args, **kwargs: quick_service(folders))
    run = CliRunner().invoke(qa.surfaces.cli.main, ["index", "--rebuild"])
    assert run.exit_code == 0 and "Reading files: 2/2" in run.stderr and "Embedding texts:" in run.stderr


# Questions.

@pytest.mark.parametrize("question", ["!!!", "?", "a", "😀", "\u200b", "。。。", "\u3000"])
def test_a_question_without_words_is_not_confident_and_not_searched(service, question):
    if not question.strip("\u200b\u3000 "):
        with pytest.raises(QAError, match="请输入问题"):
            service.answer(question)
        return
    result = service.answer(question)
    assert result.confident is False and result.hits == []


def test_lone_surrogates_and_control_characters_are_cleaned(service):
    result = service.answer("横沥\ud800镇有多少\x00名党员？")
    assert result.question == "横沥镇有多少 名党员？" and result.hits
    with pytest.raises(QAError, match="请输入问题"):
        service.answer("\ud800\udfff")


def test_a_cli_batch_goes_on_past_a_bad_line(service, monkeypatch):
    monkeypatch.setattr(qa.surfaces.cli, "_service", lambda *args, **kwargs: service)
    lines = "横沥镇有多少名党员？\n".encode() + b"\xff\xfe bad\n" + "   \n党员\n".encode()
    run = CliRunner().invoke(qa.surfaces.cli.main, ["ask", "--json", "--top-k", "1"], input=lines)
    answers = [json.loads(line) for line in run.stdout.splitlines()]
    assert run.exit_code == 1 and len(answers) == 3
    assert answers[0]["hits"] and "not UTF-8" in answers[1]["error"] and answers[2]["hits"]


def test_the_cli_says_a_folder_or_port_it_cannot_use_in_one_line(tmp_path):
    (tmp_path / "file").write_text("x", encoding="utf-8")
    for args in (["ask", "--index", str(tmp_path / "file" / "index"), "党员"],
                 ["index", "--data", str(tmp_path), "--index", str(tmp_path / "file" / "index")],
                 ["serve", "--port", "99999"]):
        run = CliRunner().invoke(qa.surfaces.cli.main, args)
        assert run.exit_code == 2, run.exception  # an uncaught exception exits 1
        assert "rror" in run.output and "Traceback" not in run.output


# Requests.

def test_requests_are_bounded_before_anything_reads_them(service):
    with serving_app(create_app(service, auth=[("alice", "s3cret")])) as url:
        big = b'{"question": "' + b"x" * 200_000 + b'"}'
        assert httpx.post(f"{url}/api/ask", content=big, timeout=60).status_code == 413  # before the login
        chunks = (b"x" * 10_000 for _ in range(100))  # no length given
        assert httpx.post(f"{url}/api/ask", content=chunks, timeout=60).status_code == 413
        auth = ("alice", "s3cret")
        for raw in (b'{"question": "\\ud800"}', b'{"question": "   "}'):
            response = httpx.post(f"{url}/api/ask", content=raw, auth=auth, timeout=60,
                                  headers={"content-type": "application/json"})
            assert response.status_code == 400 and "请输入问题" in response.json()["detail"]
        for top_k in (b"NaN", b"Infinity", b"1e400", b"-1", b'"five"', b'"5"', b'"1_0"', b"true", b"5.0"):
            response = httpx.post(f"{url}/api/ask", content=b'{"question": "x", "top_k": ' + top_k + b"}", auth=auth,
                                  headers={"content-type": "application/json"}, timeout=60)
            assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "top_k"]
        surrogate = json.dumps({"question": "横沥\ud800镇党员", "top_k": 1})  # ASCII JSON: \\ud800 escaped
        ok = httpx.post(f"{url}/api/ask", content=surrogate, auth=auth, timeout=60,
                        headers={"content-type": "application/json"})
        assert ok.status_code == 200 and ok.json()["question"] == "横沥镇党员"


def test_the_gradio_endpoint_says_what_is_wrong_with_top_k_or_documents(service):
    with serving_app(create_app(service)) as url:
        for data, problem in [(b'["x", NaN, []]', "top_k"), (b'["x", 3, 7]', "documents"),
                              (b'["x", 3, ["a", 3]]', "documents")]:
            call = httpx.post(f"{url}/gradio_api/call/ask", content=b'{"data": ' + data + b"}", timeout=60,
                              headers={"content-type": "application/json"})
            events = httpx.get(f"{url}/gradio_api/call/ask/{call.json()['event_id']}", timeout=60).text
            assert "event: complete" in events, events
            result = json.loads(events.split("data: ", 1)[1].splitlines()[0])[0]
            assert problem in result["error"] and result["hits"] == [], result


def test_a_client_that_never_finishes_its_headers_is_dropped_and_others_are_served(service):
    with serving_app(create_app(service), **server_options()) as url:
        address = ("127.0.0.1", int(url.rsplit(":", 1)[1]))
        started = time.monotonic()
        halfway = socket.create_connection(address)
        halfway.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Sl")
        trickle = socket.create_connection(address)
        trickle.sendall(b"GET / HTTP/1.1\r\n")
        assert httpx.get(f"{url}/", timeout=30).status_code == 200  # served meanwhile
        cut = None
        while cut is None and time.monotonic() - started < HEADER_SECONDS + 10:
            try:  # a header line a second: each byte used to restart uvicorn's only timer
                trickle.sendall(b"X-More: 1\r\n")
            except OSError:
                cut = time.monotonic() - started
            time.sleep(1)
        assert cut is not None and HEADER_SECONDS - 1 <= cut <= HEADER_SECONDS + 5, cut
        halfway.settimeout(5)
        assert halfway.recv(1024) == b""  # closed, without an answer
        assert httpx.get(f"{url}/", timeout=30).status_code == 200
        halfway.close()
        trickle.close()


def test_connections_past_the_limit_are_closed_at_once(service, monkeypatch):
    monkeypatch.setattr(web, "MAX_CONNECTIONS", 4)
    with serving_app(create_app(service), **server_options()) as url:
        address = ("127.0.0.1", int(url.rsplit(":", 1)[1]))
        held = [socket.create_connection(address) for _ in range(3)]
        extra = socket.create_connection(address)
        extra.settimeout(5)
        assert extra.recv(1024) == b""  # closed at once, not held until its headers are late
        for s in held:
            s.close()
        time.sleep(0.5)
        assert httpx.get(f"{url}/", timeout=30).status_code == 200
        extra.close()


def upload(url: str, data: bytes, **headers) -> httpx.Response:
    return httpx.post(url + UPLOAD_ROUTE, files={"files": ("notes.txt", data)}, headers=headers, timeout=60)


def test_requests_from_another_sites_page_are_refused(service):
    with upload_folder() as folder, serving_app(create_app(service)) as url:
        assert upload(url, b"from elsewhere", origin="http://evil.example").status_code == 403
        assert upload(url, b"from null", origin="null").status_code == 403
        question = httpx.post(f"{url}/api/ask", json={"question": "党员"}, headers={"origin": "http://evil.example"},
                              timeout=60)
        assert question.status_code == 403 and question.json()["detail"]
        assert held(folder) == []
        assert upload(url, b"from the page", origin=url).status_code == 200  # the page's own
        assert upload(url, b"from a script").status_code == 200  # no Origin: curl, gradio_client
        assert len(held(folder)) == 2


def test_uploads_held_are_bounded_and_go_when_the_server_stops(service, monkeypatch):
    monkeypatch.setattr(web, "UPLOADS_HELD", 1)  # one upload of the largest size: 5 MB
    before = os.environ.get("GRADIO_TEMP_DIR")
    with upload_folder() as folder, serving_app(create_app(service)) as url:
        assert os.environ["GRADIO_TEMP_DIR"] == str(folder)
        sizes = [upload(url, bytes([n]) * (2 << 20)).status_code for n in range(4)]
        assert sizes == [200, 200, 507, 507]
        assert sum(f.stat().st_size for f in held(folder)) == 4 << 20
    assert not folder.exists() and os.environ.get("GRADIO_TEMP_DIR") == before


def test_the_upload_folder_of_a_killed_server_is_removed_by_the_next_one(tmp_path, monkeypatch):
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that no longer runs
    abandoned, alive = tmp_path / f"qa-uploads-{gone.pid}-x1", tmp_path / f"qa-uploads-{os.getppid()}-x2"
    for folder in (abandoned, alive):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "upload.txt").write_text("held")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    with upload_folder() as folder:
        assert folder.name.startswith(f"qa-uploads-{os.getpid()}-")
        assert not abandoned.exists() and (alive / "sub" / "upload.txt").exists()
    assert not folder.exists() and alive.exists()


def held(folder) -> list:
    return [f for f in folder.rglob("*") if f.is_file()]


def test_an_upload_over_the_limit_is_refused_before_it_is_read(service, tmp_path):
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate((service.settings.max_upload_mb << 20) + 1)  # sparse: nothing to read, only its size
    status = add_files(service, [str(big)])
    assert "超过" in status and not (service.data_dir / "big.txt").exists()


def test_nfc_and_nfd_spellings_of_a_name_are_one_document(service):
    service.add_document("caf\u00e9.txt", LIBRARY.encode())
    with pytest.raises(QAError, match="同名"):
        service.add_document("cafe\u0301.txt", LIBRARY.encode())


@pytest.mark.parametrize("args", [None, [], ["x"], [PARTY, 10**30], [PARTY, -1], [PARTY, "3"], [None, 1],
                                  [PARTY, 1, 2]])
def test_the_context_handler_takes_malformed_arguments(service, args):
    assert neighbour_texts(service, args) == []


# A full disk, a read-only folder, damage.

def test_a_build_that_cannot_be_written_leaves_no_partial_build_and_old_answers_stay(service, monkeypatch):
    before = service.ask("横沥镇有多少名党员？", top_k=3)
    (service.data_dir / "library.txt").write_text(LIBRARY, encoding="utf-8")

    def full(self, path):
        path.write_bytes(b"x" * 10)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FaissVectors, "save", full)
    fresh = Service(service.data_dir, service.index_dir, embedder=FakeEmbedder())
    with pytest.raises(QAError, match="No space left on device"):
        fresh.build()
    assert len(list(service.index_dir.glob("build-*"))) == 1  # the partial build is gone
    assert fresh.ask("横沥镇有多少名党员？", top_k=3) == before  # answers from the intact index...
    assert fresh.stale and "No space left" in fresh.stale  # ...and says it is out of date


@pytest.mark.parametrize("damage", ["vectors.faiss", "clause_vectors.npy", "passages.sqlite", "lexical"])
def test_damaged_index_files_are_never_served_and_are_built_again(service, damage):
    before = service.ask("横沥镇有多少名党员？", top_k=5)
    build = next(service.index_dir.glob("build-*"))
    if damage == "lexical":
        (build / "lexical" / "params.index.json").unlink()
    else:
        path = build / damage
        data = bytearray(path.read_bytes())
        where = int(np.random.default_rng(0).integers(len(data) - 64))
        data[where : where + 64] = np.random.default_rng(0).bytes(64)
        path.write_bytes(bytes(data))
    with pytest.raises(QAError, match=rf"damaged \(.*{damage}.*\).*qa index --rebuild"):
        service.store.open()  # what a service that cannot write a new build says
    report = Service(service.data_dir, service.index_dir, embedder=FakeEmbedder()).build()  # `qa index`
    assert report.built and report.full and "damaged" in report.reason and damage in report.reason
    assert report.embedded == 0  # the embedding cache holds every vector
    assert Service(service.data_dir, service.index_dir, embedder=FakeEmbedder()).ask("横沥镇有多少名党员？",
                                                                                     top_k=5) == before


@pytest.mark.parametrize("damage", ["lexical/words.txt", "passages.sqlite"])
def test_an_update_never_carries_damage_that_kept_a_files_size_and_time(service, damage):
    # A long-running service hashes a build's files once and then trusts their size and time; an update copies the
    # kept passages and words from them, so it must read every byte first, or the damage gets a new, valid checksum.
    service.ask("横沥镇有多少名党员？")
    path = next(service.index_dir.glob("build-*")) / damage
    data, stat = path.read_bytes(), path.stat()
    where = data.index("党员".encode())
    path.write_bytes(data[:where] + "游泳".encode() + data[where + len("党员".encode()):])  # same size, in place
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    (service.data_dir / "library.txt").write_text(LIBRARY, encoding="utf-8")
    report = service.build()
    assert report.full and "damaged" in report.reason and damage in report.reason
    assert "游泳".encode() not in (next(service.index_dir.glob("build-*")) / damage).read_bytes()


def test_a_checksum_covers_every_byte_of_a_file(tmp_path):
    from qa.index.faiss_store import file_check

    path = tmp_path / "big.bin"
    data = bytearray(np.random.default_rng(1).bytes(3 << 20))
    path.write_bytes(bytes(data))
    first = file_check(path)
    for where in np.random.default_rng(2).integers(len(data), size=8):
        data[where] ^= 1
        path.write_bytes(bytes(data))
        assert file_check(path) != first and file_check(path).bytes == first.bytes
        data[where] ^= 1
    path.write_bytes(bytes(data))
    assert file_check(path) == first


# No calls home.

def test_the_app_opens_no_connection_outside_the_machine(service, monkeypatch):
    outside = []
    connect = socket.socket.connect

    def watched(sock, address):
        host = address[0] if isinstance(address, tuple) else str(address)
        if not (host.startswith("127.") or host in ("::1", "localhost") or sock.family == socket.AF_UNIX):
            outside.append(address)
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", watched)
    with serving_app(create_app(service)) as url:
        assert httpx.get(f"{url}/", timeout=60).status_code == 200
        assert httpx.get(f"{url}/config", timeout=60).json()["analytics_enabled"] is False
        assert httpx.post(f"{url}/api/ask", json={"question": "党员"}, timeout=60).status_code == 200
    assert outside == []


LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
# onnxruntime's telemetry looked its host up ~9 s after it loaded, then every 6 to 9 s: 20 s sees two of them
WATCH_SECONDS = 20


def strace_unavailable() -> str | None:
    """Why strace cannot watch a process here, or None when it can."""
    if not shutil.which("strace"):
        return "strace is not installed (apt-get install strace)"
    probe = subprocess.run(["strace", "-f", "-e", "trace=connect", "-o", os.devnull, "true"], capture_output=True,
                           text=True)
    return f"strace cannot trace here: {probe.stderr.strip()}" if probe.returncode else None


def outside_addresses(trace: str) -> list[str]:
    """The connect and sendto calls of an strace log that name an IP address other than loopback.

    Local sockets (AF_UNIX, AF_NETLINK) are fine; a sendto without an address goes where its socket's connect did.
    """
    outside = []
    for line in trace.splitlines():
        if ("connect(" in line or "sendto(" in line) and re.search(r"sa_family=AF_INET6?\b", line):
            addresses = re.findall(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"', line)
            if not addresses or any((v4 or v6) not in LOOPBACK for v4, v6 in addresses):
                outside.append(line)
    return outside


def test_outside_addresses_reads_strace_lines():
    trace = """\
1 connect(8, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT (No such file or directory)
2 connect(8, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}, 16) = 0
3 sendto(8, "\\333m\\1\\0\\0\\1"..., 50, MSG_NOSIGNAL, NULL, 0) = 50
4 connect(9, {sa_family=AF_INET, sin_port=htons(7860), sin_addr=inet_addr("127.0.0.1")}, 16 <unfinished ...>
5 connect(9, {sa_family=AF_INET6, sin6_port=htons(80), inet_pton(AF_INET6, "::1", &sin6_addr)}, 28) = 0
6 connect(9, {sa_family=AF_INET6, sin6_port=htons(443), inet_pton(AF_INET6, "2606:4700::1", &sin6_addr)}, 28) = 0
7 sendto(3, [{nlmsg_len=20, nlmsg_type=RTM_GETADDR}], 20, 0, {sa_family=AF_NETLINK, nl_pid=0}, 12) = 20
8 connect(9, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("127.0.0.53")}, 16) = 0
"""
    assert [line.split()[0] for line in outside_addresses(trace)] == ["2", "6", "8"]


@pytest.mark.slow
@pytest.mark.usefixtures("real_embedder")  # the model converted and the reader exported once, before the timed run
def test_qa_serve_opens_no_connection_outside_the_machine_under_strace(tmp_path):
    """Every connect and sendto of `qa serve`, its libraries' threads too, while it builds, answers and then idles."""
    reason = strace_unavailable()
    if reason:
        if os.environ.get("QA_REQUIRE_STRACE") == "1":
            pytest.fail(f"QA_REQUIRE_STRACE=1 but {reason}")
        pytest.skip(reason)
    shutil.copytree(DATA, tmp_path / "data")
    port, trace, log = free_port(), tmp_path / "strace.log", tmp_path / "serve.log"
    # as a user starts it: without this session's own switches (conftest turns telemetry off for the tests)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORT_", "GRADIO_"))}
    command = ["strace", "-f", "-e", "trace=connect,sendto", "-o", str(trace), sys.executable, "-m", "qa", "serve",
               "--data", str(tmp_path / "data"), "--index", str(tmp_path / "index"), "--port", str(port)]
    with open(log, "wb") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        url, deadline, status = f"http://127.0.0.1:{port}", time.monotonic() + 300, None
        while status != 200 and time.monotonic() < deadline and server.poll() is None:
            time.sleep(1)
            try:  # 503 while the index is built; the answer loads onnxruntime (the embedder, the reader)
                status = httpx.post(f"{url}/api/ask", json={"question": "党员", "top_k": 1}, timeout=60).status_code
            except httpx.TransportError:
                pass
        assert status == 200, log.read_text(errors="replace")
        assert httpx.get(f"{url}/", timeout=60).status_code == 200
        time.sleep(WATCH_SECONDS)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    written = trace.read_text(errors="replace")
    assert "+++ exited" in written or "+++ killed" in written  # strace followed the server's threads
    assert outside_addresses(written) == []


def test_app_py_says_user_errors_in_one_line(tmp_path):
    env = {**os.environ, "QA_DATA": str(tmp_path / "missing"), "QA_INDEX": str(tmp_path / "index")}
    for extra in ({"QA_AUTH": "alice"}, {"QA_AUTH": "  :  "}, {"QA_PORT": "99999"}, {}):
        run = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env={**env, **extra}, capture_output=True,
                             text=True, timeout=120)
        assert run.returncode != 0 and "Traceback" not in run.stderr
        assert run.stderr.strip().splitlines()[-1].startswith("error: "), run.stderr


@pytest.mark.slow
@pytest.mark.usefixtures("real_embedder")  # the model converted once, before the timed commands
def test_qa_index_over_a_hostile_folder_with_the_real_model(tmp_path):
    """The folder of the issue: a ° document, a non-UTF-8 name, a link out, a crafted PDF and DOCX, a good one."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "weather.txt").write_text("天气预报\n明天最高气温38°C，误差±1°C，请市民注意防暑降温，减少户外活动。\n",
                                      encoding="utf-8")
    shutil.copy(DATA / PARTY, data / PARTY)
    with open(os.path.join(os.fsencode(data), b"bad\xff\xfe.txt"), "wb") as f:
        f.write(LIBRARY.encode())
    secret = tmp_path / "secret.txt"
    secret.write_text("机密\n口令是蓝色大象，这份文件在数据文件夹以外，不能被检索。\n", encoding="utf-8")
    (data / "link.txt").symlink_to(secret)
    (data / "crafted.pdf").write_bytes(crafted_pdf())
    (data / "crafted.docx").write_bytes(crafted_docx())
    whole = pdf_file(real_article())
    (data / "cut.pdf").write_bytes(whole[: len(whole) // 2])
    (data / "evil\x1b[31m\nDone: 0 files.txt").write_bytes(b"\x00\x01")  # a name that would colour and forge a line
    cli = [sys.executable, "-m", "qa"]
    folders = ["--data", str(data), "--index", str(tmp_path / "index")]
    env = {**os.environ, "QA_READ_SECONDS": "10"}
    run = subprocess.run([*cli, "index", *folders], capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    skipped = [line for line in run.stderr.splitlines() if "skipped" in line]
    assert len(skipped) == 6 and "now 2 documents" in run.stdout, run.stderr + run.stdout
    assert "\x1b" not in run.stderr and r"evil\x1b[31m\nDone: 0 files.txt contains NUL bytes" in run.stderr
    # one line per skipped file, and nothing a reader library printed by itself ("EOF marker not found")
    said = [line for line in run.stderr.splitlines() if line not in skipped and not line.startswith(
        ("Reading", "Splitting", "Embedding", "Writing", "Rebuilding", "Loading", "Building", "Exporting"))]
    assert not said, said
    ask = subprocess.run([*cli, "ask", "--json", "夏天气温多少°C？", *folders], capture_output=True, text=True,
                         timeout=600, cwd=ROOT, env=env)
    assert ask.returncode == 0, ask.stderr
    assert "38°C" in json.loads(ask.stdout)["hits"][0]["text"]


def test_names_with_escapes_or_line_breaks_print_as_one_plain_line(service):
    from qa.surfaces.cli import format_hits

    (service.data_dir / "evil\x1b[31m\nDone.txt").write_text(LIBRARY, encoding="utf-8")
    service.build()
    hit = next(h for h in service.ask("新建了三座图书馆", top_k=5) if h.document.startswith("evil"))
    shown = format_hits("图书馆", [hit])
    assert "\x1b" not in shown and r"evil\x1b[31m\nDone.txt #0" in shown
    assert not any(line.startswith("Done") for line in shown.splitlines())


def test_the_cli_reads_the_folders_and_address_from_the_environment_as_app_py_does(service, monkeypatch):
    seen = []
    monkeypatch.setattr(qa.surfaces.cli, "_service",
                        lambda settings, **kwargs: seen.append((settings.data, settings.index)) or service)
    env = {"QA_DATA": "/srv/docs", "QA_INDEX": "/srv/index"}
    run = CliRunner().invoke(qa.surfaces.cli.main, ["ask", "--json", "党员"], env=env)
    assert run.exit_code == 0 and seen == [("/srv/docs", "/srv/index")]
    run = CliRunner().invoke(qa.surfaces.cli.main, ["ask", "--json", "--data", "mine", "党员"], env=env)
    assert seen[-1] == ("mine", "/srv/index")  # a flag given wins
    run = CliRunner().invoke(qa.surfaces.cli.main, ["serve"], env={"QA_PORT": "99999"})
    assert run.exit_code == 2 and "QA_PORT" in run.output


@pytest.mark.parametrize("setting", ["milvus:index.db", "milvus://127.0.0.1:19530"])
def test_a_milvus_store_without_its_extra_names_the_extra(monkeypatch, tmp_path, setting):
    import importlib.util

    from qa.index.factory import open_store

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("pymilvus", "milvus_lite") else real(name, *a))
    with pytest.raises(QAError, match=r"\.\[milvus\]"):
        open_store(setting, tmp_path)


@pytest.mark.parametrize("raw, shown", [
    ("a\x1b[31mb", r"a\x1b[31mb"), ("line\nforged", r"line\nforged"), ("\u202eevil", r"\u202eevil"),
    ("全镇　共有 1,724 名党员 ·", "全镇　共有 1,724 名党员 ·"),  # ideographic and plain spaces stay
])
def test_printable_shows_control_characters_as_escapes(raw, shown):
    from qa.core.text import printable

    assert printable(raw) == shown


@pytest.mark.parametrize("value", ["/dev/null", "/dev/null/models"])
def test_a_model_cache_that_is_not_a_folder_is_one_clear_error(value):
    with pytest.raises(QAError, match="QA_MODEL_CACHE must be a folder, and /dev/null is not one"):
        Settings.from_env({"QA_MODEL_CACHE": value})
    assert Settings.from_env({"QA_MODEL_CACHE": "/tmp/not-made-yet/models"}).model_cache == Path("/tmp/not-made-yet/models")


def test_a_folder_past_the_longest_path_is_one_warning_not_a_silent_gap(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(DATA / PARTY, data / PARTY)
    monkeypatch.chdir(data)
    for level in range(25):  # 25 names of 181 bytes: a path over Linux's 4,096-byte limit
        name = "层" * 60 + str(level % 10)
        os.mkdir(name)
        os.chdir(name)
    with open("deep.txt", "w", encoding="utf-8") as f:
        f.write(LIBRARY)
    listing = list_files(data)
    assert [p.name for p in listing.files] == [PARTY]
    assert len(listing.skipped) == 1 and "File name too long" in listing.skipped[0].reason
