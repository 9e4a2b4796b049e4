"""Mount the question page into your own FastAPI app.

    python examples/mount_fastapi.py       # then open http://127.0.0.1:8000/qa/

The page keeps its named endpoint, so `gradio_client.Client("http://127.0.0.1:8000/qa/")` works too.
"""

import gradio as gr
import uvicorn
from fastapi import FastAPI

from qa import Service
from qa.surfaces.page import FOOTER_LINKS, build_demo, theme
from qa.surfaces.web import server_options, upload_folder


def make_app(service: Service) -> FastAPI:
    """Your app, with its own routes, and the question page under /qa."""
    app = FastAPI()

    @app.get("/")
    def home() -> dict:
        return {"message": "My app. The question page is at /qa/."}

    # The page's footer links, theme and no run history, as qa.surfaces.web.create_app serves it.
    return gr.mount_gradio_app(app, build_demo(service), path="/qa", footer_links=FOOTER_LINKS, run_history=False,
                               theme=theme())


if __name__ == "__main__":
    service = Service("data", "index")
    service.open()
    # qa serve's guards: a folder of this server's own for uploads, removed when it stops; a deadline for request
    # headers and a connection limit (docs/security.md)
    with upload_folder():
        uvicorn.run(make_app(service), host="127.0.0.1", port=8000, **server_options())
