"""Test fixtures made on the fly: real Chinese articles from data/ written as HTML, PDF and DOCX files."""

from __future__ import annotations

import html
import io
from dataclasses import dataclass

from qa.ingest import load_documents
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
    doc = next(d for d in load_documents(DATA)[0] if d.path == name)
    grouped: dict[str, list[str]] = {}
    for p in doc.paragraphs:
        grouped.setdefault(p.heading, []).append(p.text)
    return Article(doc.title, "东莞日报", "李明", "2016-12-19", list(grouped.items())[:sections])


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
