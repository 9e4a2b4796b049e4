"""HTML, PDF and DOCX files and Chinese encodings, made by the tests from the real articles in data/."""

from __future__ import annotations

import io

import pytest

from qa.passages.chunking import split_passages
from qa.read.documents import IngestError
from qa.read.folder import load_documents, parse_bytes_bounded, read_document
from qa.read.folder import parse_bytes as read
from tests.make_docs import Article, docx_file, html_page, pdf_file, real_article

FURNITURE = ["首页", "当前位置", "分享到", "热门推荐", "某某区", "联系我们", "Copyright", "版权所有", "ICP", "内部资料",
             "第 2 页", "来源"]


TRADITIONAL_SECTIONS = [
    ("一、組織建設", [
        "近幾年來，橫瀝鎮各級黨組織不斷加強和改進基層組織建設，積極探索基層組織建設的新途徑，進一步健全和完善黨建工作機制，"
        "實現基層黨建工作的觀念創新、機制創新和方法創新。",
        "截至2010年9月底，全鎮共有黨員1724名，其中正式黨員1681名，預備黨員43名，平均每年有100多人成為黨組織的新鮮血液。",
    ]),
    ("二、鄉村振興", [
        "鄉村要振興，環境是底色。近年來，橫瀝鎮始終堅持以黨建引領鄉村振興，統籌推進產業發展、人居環境整治和鄉風文明建設。",
        "橫瀝鎮以「繡花功夫」助推特色項目落地，開展鄉村花園共建計劃，群眾的獲得感、幸福感和安全感明顯提升。",
    ]),
]


@pytest.fixture
def article():
    return real_article()


def assert_clean(doc) -> None:
    for p in doc.paragraphs:
        assert doc.text[p.start : p.end] == p.text
        for junk in FURNITURE:
            assert junk not in p.text and junk not in p.heading, (junk, p.text)


@pytest.mark.parametrize("charset", ["utf-8", "gbk", "gb18030", "big5"])
def test_html_main_text_metadata_and_no_furniture(article, charset):
    if charset == "big5":  # Big5 has no simplified characters: use a traditional-Chinese article
        article.title, article.source, article.sections = "橫瀝鎮黨建工作會議", "東莞日報", TRADITIONAL_SECTIONS
    doc = read(html_page(article, charset), "news/page.html")
    meta = doc.meta
    assert (meta.title, meta.source, meta.author, meta.date) == (article.title, article.source, "李明", "2016-12-19")
    assert [p.text for p in doc.paragraphs] == article.paragraphs
    assert [p.heading for p in doc.paragraphs] == [h for h, paras in article.sections for _ in paras]
    assert_clean(doc)


def test_pdf_text_pages_and_metadata(article):
    doc = read(pdf_file(article), "report.pdf")
    assert (doc.meta.title, doc.meta.author) == (article.title, article.author)
    # Wrapped lines are rejoined without a character lost or added; headings are not body text.
    assert "".join(p.text for p in doc.paragraphs) == "".join(article.paragraphs)
    # One section per page: every paragraph knows its page, and so does every passage cut from it.
    for page, (heading, paras) in enumerate(article.sections, 1):
        on_page = [p for p in doc.paragraphs if p.page == page]
        assert "".join(p.text for p in on_page) == "".join(paras)
        assert all(p.heading == heading for p in on_page)
    passages = split_passages(doc)
    assert {p.page for p in passages} == {1, 2, 3}
    for p in passages:
        assert any(p.text in para.text for para in doc.paragraphs if para.page == p.page)
    assert_clean(doc)


def test_one_page_pdf_without_running_header(article):
    article.sections = article.sections[1:2]
    doc = read(pdf_file(article, running_header=False), "one.pdf")
    assert "".join(p.text for p in doc.paragraphs) == "".join(article.paragraphs)
    assert {p.page for p in doc.paragraphs} == {1}


@pytest.mark.parametrize("sentences", [
    ["The budget was approved by the board."] * 3,  # the same line on every page
    [f"Step {n} of the plan is done." for n in range(1, 5)],  # a number that runs with the page number
])
def test_a_pdf_of_one_short_sentence_per_page_keeps_them_as_its_body(sentences):
    article = Article(title="Notes", source="", author="", date="", sections=[("", [s]) for s in sentences])
    doc = read(pdf_file(article, running_header=False), "slides.pdf")
    assert [p.text for p in doc.paragraphs] == sentences
    assert [p.page for p in doc.paragraphs] == list(range(1, len(sentences) + 1))


def test_docx_headings_paragraphs_and_table(article):
    doc = read(docx_file(article, table=[["项目", "数量"], ["党员", "1724名"]]), "summary.docx")
    assert (doc.meta.title, doc.meta.author) == (article.title, article.author)
    assert [p.text for p in doc.paragraphs] == article.paragraphs + ["项目 数量", "党员 1724名"]
    headings = [h for h, paras in article.sections for _ in paras]
    assert [p.heading for p in doc.paragraphs] == headings + [headings[-1]] * 2
    assert_clean(doc)


TRADITIONAL_ARTICLE = (
    "橫瀝鎮黨建工作會議\n來源：東莞日報　時間：2016-12-19\n"
    "近幾年來，橫瀝鎮各級黨組織不斷加強和改進基層組織建設，積極探索基層組織建設的新途徑，進一步健全和完善黨建工作機制。\n"
    "截至2010年9月底，全鎮共有黨員1724名，其中正式黨員1681名，預備黨員43名，黨員隊伍的年齡、文化結構進一步優化。\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "big5"])
def test_text_files_in_every_chinese_encoding(tmp_path, encoding):
    if encoding == "big5":
        text, title, marker = TRADITIONAL_ARTICLE, "橫瀝鎮黨建工作會議", "全鎮共有黨員1724名"
    else:
        text = (real_article().title + "\n来源：东莞日报 时间：2016-12-19\n" + "\n".join(real_article().paragraphs))
        title, marker = real_article().title, "全镇共有基层党党支部154个"
    (tmp_path / "article.txt").write_bytes(text.encode(encoding))
    doc = read_document(tmp_path / "article.txt", tmp_path)
    assert doc.meta.title == title and doc.meta.date == "2016-12-19"
    assert any(marker in p.text for p in doc.paragraphs)
    assert doc.text == text.replace("\r\n", "\n")


def test_gb18030_characters_outside_gbk(tmp_path):
    text = "㐀䶮是扩展汉字。𠀀𠮷也能读出，位于四字节区。\n" + "横沥镇推进乡村振兴，人居环境整治取得明显成效，群众获得感显著提升。\n"
    with pytest.raises(UnicodeEncodeError):
        text.encode("gbk")
    (tmp_path / "ext.txt").write_bytes(text.encode("gb18030"))
    assert read_document(tmp_path / "ext.txt", tmp_path).text == text


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 3]


def _encrypted_pdf(article) -> bytes:
    import pypdf

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(pdf_file(article))))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_unreadable_files_are_skipped_with_one_warning_each(tmp_path, article):
    good = {"good.html": html_page(article), "good.pdf": pdf_file(article), "good.docx": docx_file(article)}
    bad = {
        "encrypted.pdf": _encrypted_pdf(article),
        "truncated.pdf": _truncated(pdf_file(article)),
        "truncated.docx": _truncated(docx_file(article)),
        "junk.pdf": bytes(range(256)) * 8,
        "junk.docx": b"PK\x03\x04 not really a zip file",
        "junk.html": bytes(range(256)) * 8,
        "empty.pdf": b"",
        "empty.docx": b"",
        "empty.html": b"   \n",
        "empty.txt": b"",
        "scanned.pdf": _blank_pdf(),
    }
    for name, data in {**good, **bad}.items():
        (tmp_path / name).write_bytes(data)

    reading = load_documents(tmp_path)

    assert sorted(d.document for d in reading.documents) == sorted(good)
    assert sorted(s.path for s in reading.skipped) == sorted(bad)
    assert all(s.reason.startswith(s.path) for s in reading.skipped)
    assert "password" in next(s.reason for s in reading.skipped if s.path == "encrypted.pdf")


def _blank_pdf() -> bytes:
    """A PDF whose page has no text layer, like a scan without OCR."""
    import pypdf

    writer = pypdf.PdfWriter()
    writer.add_blank_page(595, 842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_with_an_empty_password_is_read(article):
    import pypdf

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(pdf_file(article))))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    assert read(out.getvalue(), "locked-for-editing.pdf").paragraphs


def test_unreadable_pdf_raises_naming_the_file():
    with pytest.raises(IngestError, match="broken.pdf"):
        read(b"%PDF-1.7\n%garbage", "broken.pdf")


def test_html_declared_charset_is_honoured(article):
    # Pages declaring GB2312 often hold GBK-only characters such as 镕; Latin-1 pages must not turn into Chinese.
    article.sections[0][1][0] = "朱镕基同志曾到横沥镇考察，" + article.sections[0][1][0]
    with pytest.raises(UnicodeEncodeError):
        article.sections[0][1][0].encode("gb2312")
    page = html_page(article, "gbk").replace(b'charset="gbk"', b'charset="gb2312"')
    assert read(page, "gb2312.html").paragraphs[0].text == article.sections[0][1][0]

    french = ("<html><head><meta charset='iso-8859-1'><title>Réunion à Hengli</title></head><body><article>"
              + "<p>La réunion a été consacrée à la rénovation des villages, à l'économie locale et à l'éducation. "
              "Les élus ont présenté un programme détaillé pour les trois prochaines années.</p>" * 3
              + "</article></body></html>").encode("latin-1")
    doc = read(french, "fr.html")
    assert doc.meta.title == "Réunion à Hengli" and "a été consacrée" in doc.paragraphs[0].text


def test_a_pdf_line_repeated_inside_pages_is_text_and_english_sentences_are_not_headings():
    years = [(1990, 113930, "mould", "spring"), (2000, 141200, "furniture", "summer"),
             (2010, 204567, "electronics", "autumn")]
    pages = [("", [f"That census was taken in the {season}.", f"Most residents then worked in {trade}.",
                   f"Population in {year}: {people} residents.", f"The {trade} trade grew in those years."])
             for year, people, trade, season in years]
    article = Article("Census", "", "", "", pages)
    doc = read(pdf_file(article), "census.pdf")
    # The running header and the page number are gone. The population lines, alike on every page once
    # numbers are masked but inside the pages, are text; no sentence is taken for a heading.
    assert " ".join(p.text for p in doc.paragraphs) == " ".join(article.paragraphs)
    assert {p.page for p in doc.paragraphs} == {1, 2, 3}
    assert all(p.heading == "" for p in doc.paragraphs)


@pytest.mark.parametrize("stamp, date", [("2021-05-04", "2021-05-04"), ("yesterday", "")])
def test_a_pdf_creation_date_pypdf_cannot_parse_does_not_lose_the_file(article, stamp, date):
    import pypdf

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(pdf_file(article))))
    writer.add_metadata({"/CreationDate": stamp})
    out = io.BytesIO()
    writer.write(out)
    doc = read(out.getvalue(), "dated.pdf")
    assert doc.meta.date == date and "".join(p.text for p in doc.paragraphs) == "".join(article.paragraphs)


def test_an_upload_that_cannot_be_read_is_one_error_naming_it():
    with pytest.raises(IngestError) as caught:
        parse_bytes_bounded(b"%PDF-1.4 not really", "notes.pdf")  # read in a worker, as uploads are
    assert str(caught.value).startswith("notes.pdf") and "skipped" not in str(caught.value)


@pytest.mark.parametrize("depth", [300, 20_000])
def test_html_text_nested_past_the_parser_depth_limit_is_read(depth):
    body = ["横沥镇今年新建了三座图书馆，方便群众读书学习。", "镇里还将建设文化广场，预计明年年底完工并向市民开放。"]
    page = ("<html><head><title>图书馆新闻</title><script>var p = '<p>不是正文</p>';</script></head><body>"
            "<nav><a href='/'>首页</a> | <a href='/news'>新闻</a></nav>" + "<div>" * depth
            + "".join(f"<p>{p}</p>" for p in body) + "</div>" * depth + "<p>版权所有 © 2016 东莞日报</p></body></html>")
    doc = read(page.encode(), "deep.html")
    assert doc.meta.title == "图书馆新闻" and [p.text for p in doc.paragraphs] == body
