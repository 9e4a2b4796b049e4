"""Test fixtures made on the fly: real Chinese articles from data/ written as HTML, PDF and DOCX files."""

from __future__ import annotations

import html
import io
from dataclasses import dataclass

from qa.read.folder import load_documents
from tests.conftest import DATA


@dataclass
class Article:
    """A title, metadata and sections of (heading, paragraphs)."""

    title: str
    source: str
    author: str
    date: str
    sections: list[tuple[str, list[str]]]

    @property
    def paragraphs(self) -> list[str]:
        return [p for _, paras in self.sections for p in paras]


def real_article(name: str = "hengli-2016-party-building.txt", sections: int = 3) -> Article:
    """The first sections of one of the real articles in data/."""
    doc = next(d for d in load_documents(DATA).documents if d.document == name)
    grouped: dict[str, list[str]] = {}
    for p in doc.paragraphs:
        grouped.setdefault(p.heading, []).append(p.text)
    return Article(doc.meta.title, "东莞日报", "李明", "2016-12-19", list(grouped.items())[:sections])


def html_page(article: Article, charset: str = "utf-8") -> bytes:
    """A news page with navigation, breadcrumb, share bar, related links and a footer around the article."""
    e = html.escape
    body = "".join(
        (f"<h2>{e(heading)}</h2>" if heading else "") + "".join(f"<p>{e(p)}</p>" for p in paras)
        for heading, paras in article.sections
    )
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="{charset}">
<title>{e(article.title)}_{e(article.source)}</title>
<meta property="og:title" content="{e(article.title)}">
<meta property="og:site_name" content="{e(article.source)}">
<meta name="author" content="{e(article.author)}">
<meta property="article:published_time" content="{article.date}T08:42:00+08:00">
</head><body>
<header><nav><ul><li><a href="/">首页</a></li><li><a href="/news">新闻中心</a></li><li><a href="/gov">政务公开</a></li>
<li><a href="/about">关于我们</a></li></ul></nav></header>
<div class="crumb">当前位置：<a href="/">首页</a> &gt; <a href="/news">新闻中心</a></div>
<main><article><h1>{e(article.title)}</h1>
<div class="byline">来源：{e(article.source)}　作者：{e(article.author)}　时间：{article.date}</div>
{body}
<div class="share">分享到：微信 微博 QQ空间</div>
</article></main>
<aside><h3>热门推荐</h3><ul><li><a href="/a">某某区召开安全生产工作会议</a></li>
<li><a href="/b">某镇开展卫生大扫除活动</a></li></ul></aside>
<footer><p>联系我们 | 广告服务 | 网站地图</p><p>Copyright &copy; 2016 东莞日报社 版权所有 粤ICP备12345678号</p></footer>
</body></html>"""
    return page.encode(charset, errors="xmlcharrefreplace")  # as a server writes characters its charset lacks


def pdf_file(article: Article, running_header: bool = True) -> bytes:
    """A PDF in the built-in Chinese CID font STSong-Light (no font file needed); one section per page by default."""
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    text = ParagraphStyle("zh", fontName="STSong-Light", fontSize=11, leading=17, wordWrap="CJK", spaceAfter=8)
    head = ParagraphStyle("zh-head", parent=text, fontSize=14, leading=20)

    def furniture(canvas, doc):
        if running_header:
            canvas.setFont("STSong-Light", 9)
            canvas.drawString(72, 800, f"{article.title} · 内部资料")
            canvas.drawString(280, 30, f"第 {doc.page} 页")

    story = []
    for i, (heading, paras) in enumerate(article.sections):
        if i:
            story.append(PageBreak())
        if heading:
            story.append(Paragraph(html.escape(heading), head))
        story += [Paragraph(html.escape(p), text) for p in paras]
    out = io.BytesIO()
    SimpleDocTemplate(out, title=article.title, author=article.author).build(
        story, onFirstPage=furniture, onLaterPages=furniture
    )
    return out.getvalue()


def docx_file(article: Article, table: list[list[str]] | None = None) -> bytes:
    """A Word file: a Title paragraph, Heading 1 sections, body paragraphs and an optional table."""
    import docx

    document = docx.Document()
    document.core_properties.author = article.author
    document.add_heading(article.title, 0)
    for heading, paras in article.sections:
        if heading:
            document.add_heading(heading, 1)
        for p in paras:
            document.add_paragraph(p)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def crafted_pdf(operators: int = 900_000, pages: int = 20) -> bytes:
    """A small PDF whose pages all draw one compressed content stream of `operators` text operators.

    About 10 KB on disk; extracting its text makes a reader run every operator on every page.
    """
    import zlib

    stream = zlib.compress(b"BT /F1 12 Tf 72 720 Td " + b"(A) Tj " * operators + b"ET", 9)
    kids = " ".join(f"{4 + i} 0 R" for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        *[b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R "
          b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>"] * pages,
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def crafted_docx(paragraphs: int = 100_000) -> bytes:
    """A Word file of `paragraphs` empty headings: a few KB zipped, seconds to minutes of work for python-docx."""
    import zipfile

    body = '<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr></w:p>' * paragraphs
    files = {
        "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
        '"/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.'
        'document.main+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="word/document.xml"/></Relationships>',
        "word/document.xml": '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
        f'wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>',
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            z.writestr(name, text)
    return out.getvalue()
