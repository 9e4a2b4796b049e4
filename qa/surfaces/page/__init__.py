"""The Gradio page: `build_demo(service)` returns a fresh Blocks for launching, rendering or mounting."""

from qa.surfaces.page.demo import FOOTER_LINKS, build_demo, theme

__all__ = ["FOOTER_LINKS", "build_demo", "theme"]
