"""The HTTP app: a plain JSON endpoint, `POST /api/ask`, beside the Gradio page on one FastAPI app."""

from __future__ import annotations

import secrets

import gradio as gr
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, Field

from qa.errors import QAError
from qa.search import Hit
from qa.service import Service
from qa.settings import MAX_TOP_K, Credentials
from qa.ui import build_demo


class AskRequest(BaseModel):
    """A question for `POST /api/ask`."""

    question: str = Field(description="The question, in Chinese or another language.", examples=["横沥镇有多少名党员？"])
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="How many passages to return.")


class AskResponse(BaseModel):
    """The passages that best answer the question, best first: the same fields as `qa ask --json`."""

    question: str
    hits: list[Hit]
    confident: bool | None = Field(None, description="False when nothing in the collection seems to answer it.")
    error: str | None = Field(None, description="Always null here: a question that cannot be asked is a 400.")


class ErrorResponse(BaseModel):
    """What was wrong with the request, for the caller to show."""

    detail: str


def create_app(service: Service, page_path: str = "/", demo: gr.Blocks | None = None,
               auth: Credentials | None = None) -> FastAPI:
    """A FastAPI app serving `POST /api/ask` and, at `page_path`, the page (`build_demo(service)` unless given).

    With `auth`, the page asks for a login and the JSON endpoint for HTTP Basic credentials.
    """
    app = FastAPI(title="qa", summary="Semantic question answering over a folder of documents.")
    guard = [Depends(_basic_auth(auth))] if auth else []

    @app.post("/api/ask", response_model=AskResponse, responses={400: {"model": ErrorResponse}}, dependencies=guard)
    def ask(request: AskRequest) -> AskResponse:
        """Ask a question; a question the service cannot take (e.g. an empty one) is a 400 with its reason."""
        try:
            result = service.answer(request.question, request.top_k)
        except QAError as e:
            raise HTTPException(status_code=400, detail=str(e)) from None
        return AskResponse(**result.as_json())

    return gr.mount_gradio_app(app, demo or build_demo(service), path=page_path, auth=auth)


def _basic_auth(auth: Credentials):
    basic = HTTPBasic()

    def check(credentials: HTTPBasicCredentials = Depends(basic)) -> None:
        given = (credentials.username.encode(), credentials.password.encode())
        # compare every pair in full, so timing says nothing about which part was wrong
        ok = [secrets.compare_digest(given[0], u.encode()) & secrets.compare_digest(given[1], p.encode())
              for u, p in auth]
        if not any(ok):
            raise HTTPException(status_code=401, detail="Wrong user or password.",
                                headers={"WWW-Authenticate": "Basic"})

    return check
