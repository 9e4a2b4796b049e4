"""The Gradio page: `build_demo(service)` returns a fresh Blocks for launching, rendering or mounting.

    render.py    the HTML, from plain values (answers, the collection, a document, progress)
    handlers.py  the event handlers, one function each, given the service as their first argument
    layout.py    the components, placed and returned as a Page
    demo.py      build_demo: the layout, then its events wired to the handlers; theme()
    page.css, page.js, times.js  the page's styles, the results' behaviour, local times (package data)
"""

from qa.surfaces.page.demo import FOOTER_LINKS, build_demo, theme

__all__ = ["FOOTER_LINKS", "build_demo", "theme"]
