"""The HTTP app: a plain JSON endpoint, `POST /api/ask`, beside the Gradio page on one FastAPI app."""

from __future__ import annotations

import gradio as gr
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from qa.search import Hit
from qa.service import Service
from qa.ui import answer, build_demo


class AskRequest(BaseModel):
    """A question for `POST /api/ask`."""

    question: str = Field(description="The question, in Chinese or another language.", examples=["横沥镇有多少名党员？"])
    top_k: int = Field(5, ge=1, le=100, description="How many passages to return.")


class AskResponse(BaseModel):
    """The passages that best answer the question, best first: the same fields as `qa ask --json`."""

    question: str
    hits: list[Hit]
    confident: bool | None = Field(None, description="False when nothing in the collection seems to answer it.")


class ErrorResponse(BaseModel):
    """What was wrong with the request, for the caller to show."""

    detail: str


def create_app(service: Service, page_path: str = "/") -> FastAPI:
    """A FastAPI app serving `POST /api/ask` and, at `page_path`, the page from `build_demo(service)`."""
    app = FastAPI(title="qa", summary="Semantic question answering over a folder of documents.")

    @app.post("/api/ask", response_model=AskResponse, responses={400: {"model": ErrorResponse}})
    def ask(request: AskRequest) -> AskResponse:
        """Ask a question; a question the service cannot take (e.g. an empty one) is a 400 with its reason."""
        result = answer(service, request.question, request.top_k)
        if result["error"]:
            raise HTTPException(status_code=400, detail=result["error"])
        return AskResponse(**result)

    return gr.mount_gradio_app(app, build_demo(service), path=page_path)
