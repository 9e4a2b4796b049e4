"""The HTTP app: a plain JSON endpoint, `POST /api/ask`, beside the Gradio page on one FastAPI app."""

from __future__ import annotations

import os
import secrets

import gradio as gr
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPBasic, HTTPBasicCredentials
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


Credentials = list[tuple[str, str]]


def auth_from_env(value: str | None = None) -> Credentials | None:
    """Logins from $QA_AUTH ("user:password", several separated by commas); None means the app is open."""
    value = os.environ.get("QA_AUTH", "") if value is None else value
    pairs = [item.split(":", 1) for item in value.split(",") if item.strip()]
    if any(len(pair) != 2 or not all(pair) for pair in pairs):
        raise ValueError('QA_AUTH must look like "user:password" or "user1:pw1,user2:pw2".')
    return [(user.strip(), password) for user, password in pairs] or None


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
        result = answer(service, request.question, request.top_k)
        if result["error"]:
            raise HTTPException(status_code=400, detail=result["error"])
        return AskResponse(**result)

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
