"""The HTTP app: a plain JSON endpoint, `POST /api/ask`, beside the Gradio page on one FastAPI app."""

from __future__ import annotations

import json
import os
import resource
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import gradio as gr
import h11
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from gradio.utils import get_upload_folder
from pydantic import BaseModel, ConfigDict, Field
from uvicorn.protocols.http.h11_impl import H11Protocol

from qa.core.errors import AnswerFailed, NotReadyError, QAError, StoreUnavailable
from qa.answer.search import Hit
from qa.service import Service
from qa.core.settings import MAX_REQUEST_BYTES, MAX_TOP_K, Credentials
from qa.surfaces.page import FOOTER_LINKS, build_demo, theme

PAGE_REQUEST_BYTES = 1 << 20  # the page's own requests carry a question, or a result back to render
UPLOAD_ROUTE = "/gradio_api/upload"
HEADER_SECONDS = 10  # for a request line and its headers: a slow phone needs one or two
KEEP_ALIVE_SECONDS = 5  # an idle connection between requests
MAX_CONNECTIONS = 1000  # open at once; far beyond a private service's readers, far below the open-file limit
UPLOADS_HELD = 20  # uploads (of the largest size) Gradio may hold before it hands them to the page's handler
MAX_UPLOAD_FILES = 200  # files it may hold, however small
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class AskRequest(BaseModel):
    """A question for `POST /api/ask`."""

    model_config = ConfigDict(strict=True)  # top_k "5", "1_0" or true is a mistake to report, not to guess at

    question: str = Field(description="The question, in Chinese or another language.", examples=["横沥镇有多少名党员？"])
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="How many passages to return.")
    documents: list[str] | None = Field(None, description="Search only these documents (file names as in `hits`).")


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
               auth: Credentials | None = None, warm_up: bool = False) -> FastAPI:
    """A FastAPI app serving `POST /api/ask` and, at `page_path`, the page (`build_demo(service)` unless given).

    With `auth`, the page asks for a login and the JSON endpoint for HTTP Basic credentials. With `warm_up`, the
    index is built or loaded (and the model loaded) in the background once the server has started: the page is
    served at once and says how far the build got; questions meanwhile get a 503 saying to wait.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if warm_up:
            service.warm_up_in_background()
        yield

    app = FastAPI(title="qa", summary="Semantic question answering over a folder of documents.", lifespan=lifespan)
    upload_bytes = service.settings.max_upload_mb << 20
    upload_request_bytes = upload_bytes + (1 << 20)
    app.add_middleware(UploadQuota, limit=UPLOADS_HELD * upload_bytes, unknown_size=upload_request_bytes)
    app.add_middleware(BodyLimit, limits={"/api/ask": MAX_REQUEST_BYTES, UPLOAD_ROUTE: upload_request_bytes},
                       default=PAGE_REQUEST_BYTES)
    app.add_middleware(SameOrigin)  # outermost: another site's request is read no further
    app.add_exception_handler(RequestValidationError, _invalid_request)
    guard = [Depends(_basic_auth(auth))] if auth else []

    @app.post("/api/ask", response_model=AskResponse, dependencies=guard,
              responses={400: {"model": ErrorResponse}, 500: {"model": ErrorResponse}, 503: {"model": ErrorResponse}})
    def ask(request: AskRequest) -> AskResponse:
        """Ask a question; a question the service cannot take (e.g. an empty one) is a 400 with its reason, one
        asked while the index is still being built at start, or while its store (a Milvus server) is unavailable,
        a 503 (with Retry-After), and one the model or the store failed on a 500 with the reason."""
        try:
            result = service.answer(request.question, request.top_k, request.documents)
        except (NotReadyError, StoreUnavailable) as e:
            raise HTTPException(status_code=503, detail=str(e), headers={"Retry-After": "5"}) from None
        except AnswerFailed as e:
            raise HTTPException(status_code=500, detail=str(e)) from None
        except QAError as e:
            raise HTTPException(status_code=400, detail=str(e)) from None
        return AskResponse(**result.as_json())

    # run_history off: readers' questions are not recorded by Gradio (the page keeps its own short list)
    return gr.mount_gradio_app(app, demo or build_demo(service), path=page_path, auth=auth,
                               max_file_size=upload_bytes, footer_links=FOOTER_LINKS, run_history=False,
                               theme=theme())


UPLOADS_PREFIX = "qa-uploads-"  # then the server's pid: a folder whose server is gone is removed by the next one


def serve(service: Service, host: str, port: int, auth: Credentials | None = None) -> None:
    """Serve the page and `POST /api/ask` until stopped; the port answers at once while the index builds."""
    with upload_folder():
        uvicorn.run(create_app(service, auth=auth, warm_up=True), host=host, port=port, **server_options())


@contextmanager
def upload_folder() -> Iterator[Path]:
    """A folder of the server's own for Gradio's uploads (GRADIO_TEMP_DIR, inside the one set if any) while it
    runs, removed when it stops: uploads never outlive the server, nor mix with another's."""
    before = os.environ.get("GRADIO_TEMP_DIR")
    parent = Path(before or tempfile.gettempdir())
    remove_abandoned_uploads(parent)
    folder = Path(tempfile.mkdtemp(prefix=f"{UPLOADS_PREFIX}{os.getpid()}-", dir=parent))
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if before is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = before


def remove_abandoned_uploads(parent: Path) -> list[Path]:
    """Remove the upload folders of servers that ended without removing theirs (killed): this user's folders named
    for a process that no longer runs. Returns them."""
    removed = []
    for folder in parent.glob(f"{UPLOADS_PREFIX}*-*"):
        pid = folder.name[len(UPLOADS_PREFIX):].split("-", 1)[0]
        try:
            if not pid.isdigit() or folder.is_symlink() or folder.stat().st_uid != os.getuid() or _running(int(pid)):
                continue
        except OSError:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def server_options() -> dict:
    """uvicorn's settings that keep slow or many clients from holding the server: HeaderDeadline, and past
    connection_limit() connections new ones are closed and new requests get a 503."""
    return {"http": HeaderDeadline, "timeout_keep_alive": KEEP_ALIVE_SECONDS, "limit_concurrency": connection_limit()}


def connection_limit() -> int:
    """MAX_CONNECTIONS, or half the files this process may open if that is fewer (the index and model need some)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return MAX_CONNECTIONS if soft == resource.RLIM_INFINITY else max(1, min(MAX_CONNECTIONS, soft // 2))


class HeaderDeadline(H11Protocol):
    """uvicorn's HTTP/1.1 connection, closed when its request line and headers take over HEADER_SECONDS.

    uvicorn has no such timeout: its keep-alive timer starts only after a response and stops at each byte received,
    so a client sending half a request, or a byte now and then, held its connection (and a file) for ever. A
    connection opened past connection_limit() is closed at once.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.header_timer = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        limit = self.config.limit_concurrency
        if limit is not None and len(self.connections) >= limit:  # it counts itself: the others stay served
            transport.close()
            return
        self._start_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._start_header_timer()  # the next request on this connection has as long

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _start_header_timer(self) -> None:
        self._stop_header_timer()
        self.header_timer = self.loop.call_later(HEADER_SECONDS, self._headers_late)

    def _stop_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _headers_late(self) -> None:
        self.header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():  # no whole request yet
            self.transport.close()


class BodyLimit:
    """Refuse a request body over its route's limit with a 413, before anything reads it (the login, the parser).

    `limits` maps path endings to byte limits; other requests get `default`. A body sent without a length is
    read here up to the limit, then handed on.
    """

    def __init__(self, app, limits: dict[str, int], default: int):
        self.app, self.limits, self.default = app, limits, default

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = next((n for end, n in self.limits.items() if scope["path"].endswith(end)), self.default)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:  # the server reads no more than the declared length
            if not declared.isdigit() or int(declared) > limit:
                return await _too_large(send, limit)
            return await self.app(scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return await _too_large(send, limit)
            if not message.get("more_body"):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


class SameOrigin:
    """Refuse with a 403 a request that could change something (a POST: an upload, a question, a removal) sent from
    a page of another site: one whose Origin is not the host it was sent to.

    Browsers send Origin with every such request, and Gradio's CORS rules only hide the answer from the other
    site, after the request did its work. Scripts and gradio_client send no Origin and are not affected.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            headers = dict(scope["headers"])
            origin = headers.get(b"origin")
            if origin is not None and not same_origin(origin, headers.get(b"host", b"")):
                return await _refuse(send, 403, "请从本站页面发送请求。/ Requests from another site's page are refused.")
        return await self.app(scope, receive, send)


def same_origin(origin: bytes, host: bytes) -> bool:
    """Whether an Origin header names the host and port a request was sent to (its Host header)."""
    netloc = urlsplit(origin.decode("latin-1").strip()).netloc.lower()
    return bool(netloc) and netloc == host.decode("latin-1").strip().lower()


class UploadQuota:
    """Refuse an upload with a 507 while those Gradio holds (in its upload folder, and arriving) would pass `limit`
    bytes or MAX_UPLOAD_FILES files; an upload without a declared length counts as `unknown_size`.

    The page's handler copies an upload into the data folder at once; the page deletes held ones after a while
    (its Blocks' delete_cache), and the server's upload folder goes when it stops (upload_folder).
    """

    def __init__(self, app, limit: int, unknown_size: int):
        self.app, self.limit, self.unknown_size, self.arriving = app, limit, unknown_size, 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith(UPLOAD_ROUTE):
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        size = int(declared) if declared.isdigit() else self.unknown_size
        files, held = held_uploads(Path(get_upload_folder()))
        if files >= MAX_UPLOAD_FILES or held + self.arriving + size > self.limit:
            return await _refuse(send, 507, "暂存的上传过多，请几分钟后再试。/ Too many uploads are held; try again in a "
                                            "few minutes.")
        self.arriving += size
        try:
            await self.app(scope, receive, send)
        finally:
            self.arriving -= size


def held_uploads(folder: Path) -> tuple[int, int]:
    """The number of files under `folder` and their bytes (0, 0 when it does not exist)."""
    files = total = 0
    for root, _, names in os.walk(folder):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:  # deleted meanwhile
                continue
            files += 1
    return files, total


async def _too_large(send, limit: int) -> None:
    await _refuse(send, 413, f"请求过大。/ The request body is over {limit} bytes.")


async def _refuse(send, status: int, detail: str) -> None:
    """Answer with `status` and `{"detail": ...}` without reading the request."""
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A 422 naming what is wrong, without echoing the input (NaN or Infinity cannot be written as JSON)."""
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": errors})


def _basic_auth(auth: Credentials):
    basic = HTTPBasic()

    def check(credentials: HTTPBasicCredentials = Depends(basic)) -> None:
        given = (credentials.username.encode(), credentials.password.encode())
        # compare every pair in full, so timing says nothing about which part was wrong
        ok = [secrets.compare_digest(given[0], u.encode()) & secrets.compare_digest(given[1], p.encode())
              for u, p in auth]
        if not any(ok):
            raise HTTPException(status_code=401, detail="用户名或密码错误。/ Wrong user or password.",
                                headers={"WWW-Authenticate": "Basic"})

    return check
