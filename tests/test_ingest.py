"""Ingestion: metadata and body text from scraped pages, encodings, folder loading."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from qa.read.documents import Document, IngestError, decode_bytes
from qa.read.folder import load_documents, read_document
from qa.read.plaintext import parse_document
from tests.conftest import ROOT

HERE = Path(__file__).resolve()
CORPUS_DIRS = [d for d in (HERE.parents[2] / "shared" / "corpus", HERE.parents[1] / "data") if d.is_dir()]

CORPUS_FURNITURE = ["Copyright", "您的当前位置", "联系我们", "暂无评论", "赞助推荐", "万众一心", "武汉加油", "责任编辑"]

# Each real page is found by a phrase from its body, since the two folders name the files differently.
CORPUS_EXPECTED = [
    {
        "marker": "横沥镇坚持“以人民为中心”的发展思想",
        "title": "踔厉奋发新时代 勇毅前行向未来",
        "source": "世界财经杂志",
        "author": "",
        "editor": "横沥宣",
        "date": "2023-05-18",
    },
    {
        "marker": "全镇共有党员1724名",
        "title": "根基扎牢 枝繁叶茂",
        "source": "网络",
        "author": "",
        "editor": "",
        "date": "2016-12-19",
    },
]

SCRAPED_PAGE = """\
欢迎访问某某网，今天是2021年6月1日，星期二。
首页 | 关于我们 | 联系方式 | 网站地图
当前位置：首页 > 新闻中心 > 本地

某某市举办第五届科技节
2021-06-01 10:30　来源：某某日报　作者：李四　浏览次数：1024

　　6月1日上午，第五届某某市科技节在市科技馆开幕，吸引了上万名市民前来参观体验。
点赞
一、展品亮点
　　本届科技节共设置展区12个，展出机器人、无人机等科技成果300余项，其中3.5米高的机器人最受欢迎。
展览将持续三天。
\u00a0\u00a0市科协负责人表示，科技节已成为市民了解前沿科技的重要窗口，今后将继续办好。\u3000
欢迎留言！

分享到：微信 微博 QQ空间
上一篇：某某区召开安全生产工作会议，部署汛期工作
下一篇：某某镇开展卫生大扫除活动
收藏 12
打印本页 | 关闭窗口
© 2021 某某日报社 版权所有 粤ICP备12345678号
Copyright © 2021 某某日报社, All rights reserved. 未经授权禁止转载。
"""

SCRAPED_PROSE = [
    "6月1日上午，第五届某某市科技节在市科技馆开幕，吸引了上万名市民前来参观体验。",
    "本届科技节共设置展区12个，展出机器人、无人机等科技成果300余项，其中3.5米高的机器人最受欢迎。",
    "展览将持续三天。",
    "市科协负责人表示，科技节已成为市民了解前沿科技的重要窗口，今后将继续办好。",
]

SIMPLIFIED = "横沥镇坚持以人民为中心的发展思想，不断创新思路，拓展党建新模式。全镇共有党员1724名。"
TRADITIONAL = "橫瀝鎮堅持以人民為中心的發展思想，不斷創新思路，拓展黨建新模式。全鎮共有黨員1724名。"


def assert_offsets_true(doc: Document) -> None:
    for p in doc.paragraphs:
        assert doc.text[p.start : p.end] == p.text
        assert p.text == p.text.strip() and p.text.strip("\u00a0\u3000") == p.text


@pytest.fixture(scope="module", params=CORPUS_DIRS or [None], ids=lambda d: d.name if d else "none")
def corpus(request) -> list[Document]:
    if request.param is None:
        pytest.skip("no copy of the shared corpus found")
    reading = load_documents(request.param)
    assert reading.documents and not reading.skipped
    return reading.documents


def find(documents: list[Document], marker: str) -> Document:
    return next(d for d in documents if any(marker in p.text for p in d.paragraphs))


@pytest.mark.parametrize("expected", CORPUS_EXPECTED, ids=lambda e: e["title"])
def test_corpus_metadata(corpus, expected):
    doc = find(corpus, expected["marker"])
    assert (doc.meta.title, doc.meta.source, doc.meta.author, doc.meta.editor, doc.meta.date) == (
        expected["title"],
        expected["source"],
        expected["author"],
        expected["editor"],
        expected["date"],
    )


def test_corpus_has_no_furniture(corpus):
    for doc in corpus:
        for p in doc.paragraphs:
            for junk in CORPUS_FURNITURE:
                assert junk not in p.text and junk not in p.heading, (doc.document, junk)


def test_corpus_offsets_are_true(corpus):
    for doc in corpus:
        assert doc.paragraphs
        assert_offsets_true(doc)


def test_corpus_headings(corpus):
    party = find(corpus, "全镇共有党员1724名")
    assert find_paragraph(party, "全镇共有党员1724名").heading == "组织建设:夯实基础增活力"
    assert party.paragraphs[0].heading == ""
    hengli = find(corpus, "横沥镇坚持“以人民为中心”的发展思想")
    # A heading split over two short lines is joined; the non-prose lead line heads the first section.
    assert find_paragraph(hengli, "横沥镇坚持“以人民为中心”").heading == "党建引领 强治理 服务群众“零距离”"
    assert hengli.paragraphs[0].heading.startswith("踔厉奋发新时代 勇毅前行向未来——记横沥镇")
    assert "导读" not in hengli.paragraphs[0].heading


def find_paragraph(doc: Document, marker: str):
    return next(p for p in doc.paragraphs if marker in p.text)


def test_scraped_page_keeps_only_prose():
    doc = parse_document(SCRAPED_PAGE, "news/keji.txt")
    assert [p.text for p in doc.paragraphs] == SCRAPED_PROSE
    assert [p.heading for p in doc.paragraphs] == ["", "一、展品亮点", "一、展品亮点", "一、展品亮点"]
    assert (doc.meta.title, doc.meta.source, doc.meta.author, doc.meta.editor, doc.meta.date) == (
        "某某市举办第五届科技节",
        "某某日报",
        "李四",
        "",
        "2021-06-01",
    )
    assert_offsets_true(doc)


def test_crlf_is_normalized_and_offsets_stay_true():
    doc = parse_document(SCRAPED_PAGE.replace("\n", "\r\n"), "keji.txt")
    assert "\r" not in doc.text
    assert [p.text for p in doc.paragraphs] == SCRAPED_PROSE
    assert_offsets_true(doc)


def test_lead_with_prose_is_a_paragraph():
    text = "标题在此\n来源：某报\n导读：本文介绍了某镇的基层治理经验，值得各地借鉴学习。\n正文第一段讲述了治理的具体做法和成效，内容较为详实。\n"
    doc = parse_document(text, "a.txt")
    assert [p.text for p in doc.paragraphs] == [
        "本文介绍了某镇的基层治理经验，值得各地借鉴学习。",
        "正文第一段讲述了治理的具体做法和成效，内容较为详实。",
    ]
    assert_offsets_true(doc)


def test_title_without_header_and_stem_fallback():
    body = "这是一段足够长的正文内容，用来说明没有页眉时标题如何确定。"
    assert parse_document(f"网站导航 | 首页\n某镇召开年度工作会议\n{body}\n", "x.txt").meta.title == "某镇召开年度工作会议"
    assert parse_document(body, "dir/only-body.txt").meta.title == "only-body"


def test_byline_after_the_article_is_not_a_header():
    body = ["第一段正文讲述了会议的主要内容，参会人员进行了充分讨论。", "第二段正文介绍了下一步的工作安排，要求各部门抓好落实。"]
    doc = parse_document("某镇召开工作会议\n" + "\n".join(body) + "\n责任编辑：王五\n", "m.txt")
    assert [p.text for p in doc.paragraphs] == body
    assert (doc.meta.title, doc.meta.editor) == ("某镇召开工作会议", "王五")


def test_markdown_headings_and_title():
    text = "# 年度工作总结\n\n## 一、主要成绩\n\n全年完成各项任务，群众满意度明显提升，经济保持平稳增长。\n\n## 二、存在问题\n\n部分工作推进较慢，基层力量仍然薄弱，需要进一步加强。\n"
    doc = parse_document(text, "report.md")
    assert doc.meta.title == "年度工作总结"
    assert [p.heading for p in doc.paragraphs] == ["一、主要成绩", "二、存在问题"]
    assert_offsets_true(doc)


@pytest.mark.parametrize(
    "header, fields",
    [
        ("发布时间：2021年6月1日 10:30  来源：新华网", {"date": "2021-06-01", "source": "新华网"}),
        ("作者: 佚名 | 来源: 本站 | 日期: 2019/12/3", {"author": "", "source": "本站", "date": "2019-12-03"}),
        ("2020.01.05 08:00 责任编辑：王五", {"date": "2020-01-05", "editor": "王五"}),
    ],
)
def test_header_variants(header, fields):
    text = f"某镇新闻标题\n{header}\n这是一段足够长的正文内容，用来检验页眉里的各项信息是否被正确读出。\n"
    doc = parse_document(text, "h.txt")
    assert doc.meta.title == "某镇新闻标题"
    for name, value in fields.items():
        assert getattr(doc.meta, name) == value
    assert len(doc.paragraphs) == 1


@pytest.mark.parametrize(
    "text, encoding",
    [
        (SIMPLIFIED, "utf-8"),
        (SIMPLIFIED, "utf-8-sig"),
        (SIMPLIFIED, "gbk"),
        (SIMPLIFIED, "gb18030"),
        (TRADITIONAL, "big5"),
        (TRADITIONAL, "utf-8"),
        (SIMPLIFIED, "utf-16"),
    ],
)
def test_decode_encodings(text, encoding):
    assert decode_bytes(text.encode(encoding), "t.txt") == text


@pytest.mark.parametrize(
    "junk",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
        bytes(range(1, 32)) * 40,
        bytes(random.Random(0).randrange(128, 256) for _ in range(4000)),
    ],
    ids=["nul-bytes", "control-chars", "high-bytes"],
)
def test_decode_rejects_binary(junk):
    with pytest.raises(IngestError, match="junk.bin"):
        decode_bytes(junk, "junk.bin")


def test_load_documents_skips_bad_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b-good.txt").write_bytes(SCRAPED_PAGE.encode("gb18030"))
    (tmp_path / "sub" / "a.md").write_text("# 标题\n\n这是一段足够长的正文内容，用来检验子目录里的文件也被读入。\n", encoding="utf-8")
    (tmp_path / "junk.txt").write_bytes(b"\x00\x01\x02binary\xff\xfe")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "sheet.xlsx").write_bytes(b"PK\x03\x04")  # not a supported format: ignored, no warning
    (tmp_path / ".hidden.txt").write_text(SCRAPED_PAGE, encoding="utf-8")

    reading = load_documents(tmp_path)

    assert [d.document for d in reading.documents] == ["b-good.txt", "sub/a.md"]
    assert [p.text for p in reading.documents[0].paragraphs] == SCRAPED_PROSE
    assert [s.path for s in reading.skipped] == ["empty.txt", "junk.txt", "notes.pdf"]
    assert all(s.reason.startswith(s.path) and str(s).endswith(". The file was skipped.") for s in reading.skipped)


def test_read_document_uses_relative_posix_path(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    path = tmp_path / "a" / "b" / "page.txt"
    path.write_bytes(SCRAPED_PAGE.encode("utf-8-sig"))
    doc = read_document(path, tmp_path)
    assert doc.document == "a/b/page.txt"
    assert not doc.text.startswith("\ufeff")


def test_load_documents_missing_folder(tmp_path):
    with pytest.raises(IngestError, match="missing"):
        load_documents(tmp_path / "missing")


def test_english_sentences_are_text_not_titles_or_headings():
    first = "Hengli is a town in Dongguan. It is known for mould making and has many factories."
    text = f"{first}\nThe town hall opens at nine.\nFerries leave every hour.\nMarkets open on Sundays.\n"
    doc = parse_document(text, "town.txt")
    assert [p.text for p in doc.paragraphs][0] == first and doc.meta.title == "town"
    assert [p.heading for p in doc.paragraphs] == ["", "", "", ""]
    assert_offsets_true(doc)
    # a short line without a sentence end still titles the text and heads what follows
    doc = parse_document("Opening hours\nThe town hall opens at nine on weekdays, and at ten on Saturdays.\n", "h.txt")
    assert doc.meta.title == "Opening hours" and len(doc.paragraphs) == 1


SCRIPT_WITHOUT_GUARD = """from qa import Service
from tests.conftest import FakeEmbedder
print("script started")
print("built", Service("data", "index", embedder=FakeEmbedder()).build().passages)
"""


@pytest.mark.parametrize("how", ["a file", "stdin"])
def test_a_script_without_a_main_guard_runs_once_and_builds(tmp_path, how):
    # Reading a PDF starts worker processes. Python's spawn would import the script again in each one, which would
    # build there and wait for ever for the parent's build lock (or, read from stdin, fail to find it): the reading
    # workers start without it.
    from tests.make_docs import pdf_file, real_article

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "article.pdf").write_bytes(pdf_file(real_article()))
    script = tmp_path / "script.py"
    script.write_text(SCRIPT_WITHOUT_GUARD, encoding="utf-8")
    command = [sys.executable, str(script)] if how == "a file" else [sys.executable, "-"]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         input=None if how == "a file" else SCRIPT_WITHOUT_GUARD,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("script started") == 1
    assert int(run.stdout.split()[-1]) > 0 and (tmp_path / "index" / "manifest.json").exists()


def test_only_the_reading_workers_start_without_the_main_script(monkeypatch):
    # Any other process spawned in the same program (the user's own pools) still imports it, as Python documents.
    from multiprocessing import spawn

    import qa.read.workers as workers

    monkeypatch.setattr(sys.modules["__main__"], "__file__", str(ROOT / "app.py"), raising=False)
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", None, raising=False)
    other, reading = spawn.get_preparation_data("other"), spawn.get_preparation_data(workers._NAME)
    assert other["init_main_from_path"] == str(ROOT / "app.py")
    assert "init_main_from_path" not in reading and "init_main_from_name" not in reading
    assert {k: v for k, v in other.items() if k != "init_main_from_path"} == {**reading, "name": "other"}


def test_a_guarded_script_that_makes_its_service_at_module_level_builds(tmp_path):
    # The usual shape of an app: the Service at the top, the work under the guard.
    from tests.make_docs import pdf_file, real_article

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "article.pdf").write_bytes(pdf_file(real_article()))
    script = tmp_path / "script.py"
    script.write_text("from qa import Service\nfrom tests.conftest import FakeEmbedder\n"
                      "service = Service('data', 'index', embedder=FakeEmbedder())\n"
                      "if __name__ == '__main__':\n    print('built', service.build().passages)\n", encoding="utf-8")
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    assert int(run.stdout.split()[-1]) > 0 and (tmp_path / "index" / "manifest.json").exists()
