"""Add/change/delete with the real model, through the API and `qa index`: answers follow the documents."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from qa import Service
from tests.conftest import DATA, PARTY, ROOT
from tests.make_docs import docx_file, real_article

pytestmark = pytest.mark.slow

QUESTION = "横沥镇有多少名党员？"


def qa_index(data, index, *flags: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "qa", "index", *flags, "--data", str(data), "--index", str(index)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT, env=os.environ)


def test_answers_follow_changes_additions_and_deletions(real_embedder, tmp_path):
    data, index = tmp_path / "data", tmp_path / "index"
    shutil.copytree(DATA, data)
    service = Service(data, index, embedder=real_embedder)
    assert "全镇共有党员1724名" in service.ask(QUESTION)[0].text

    # change, indexed by the CLI in another process; the service picks the new build up
    party = data / PARTY
    party.write_text(party.read_text(encoding="utf-8").replace("全镇共有党员1724名", "全镇共有党员1999名"), encoding="utf-8")
    run = qa_index(data, index)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("Updated the index (documents changed: 0 new, 1 changed, 0 removed): 1 file read")
    hits = service.ask(QUESTION, top_k=10)
    assert "全镇共有党员1999名" in hits[0].text
    assert not any("1724名" in h.text for h in hits)

    # delete: the document never answers again
    party.unlink()
    report = service.build()
    assert (report.read, report.removed, report.embedded) == (0, 1, 0)
    assert all(h.document != PARTY for h in service.ask(QUESTION, top_k=20))

    # add the same article as a Word file: it answers, from the cache
    (data / "party.docx").write_bytes(docx_file(real_article(PARTY, sections=10)))
    report = service.build()
    assert report.read == 1
    top = service.ask(QUESTION)[0]
    assert top.document == "party.docx" and "全镇共有党员1724名" in top.text

    # a full rebuild is announced as one
    run = qa_index(data, index, "--rebuild")
    assert run.returncode == 0 and run.stdout.startswith("Rebuilt the index (a rebuild was requested)")
