"""A build's passages embedded on a Ray cluster (--ray, QA_RAY): Ray Data hands them to workers that load the model once."""

from __future__ import annotations

import logging
import math
import os
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np

from qa.core.errors import QAError
from qa.core.settings import Settings, check_ray_address, set_native_defaults
from qa.embed.base import Embedder, Kind, Part, embed_each
from qa.embed.device import CPU_BATCH, GPU_BATCH

log = logging.getLogger("qa")

RAY_INSTALL = "pip install -e '.[ray]'"
CONNECT_SECONDS = 5  # to find the cluster's head answering before Ray's own, much longer, retries
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Ray colours its reports
CAUSE = re.compile(r"^[A-Za-z_.]*(Error|Exception): ")


class RayEmbedder(Embedder):
    """Questions on this machine's embedder; the passages of a build on a Ray cluster's workers."""

    def __init__(self, local: Embedder, settings: Settings, make: Callable[[Settings], Embedder]):
        self.local, self.make = local, make  # make: how a worker makes its embedder (qa.embed.factory)
        self.name, self.dim, self.prompts = local.name, local.dim, local.prompts
        self.address = check_ray_address(settings.ray)
        self.workers = settings.ray_workers
        self.worker_settings = replace(settings, ray="")  # a worker embeds on its own machine

    def embed(self, texts: list[str], kind: Kind) -> np.ndarray:
        return self.local.embed(texts, kind)

    def embed_parts(self, texts: list[str], kind: Kind) -> Iterator[Part]:
        """The texts in blocks over the cluster's workers (one per GPU, else per CPU), each block as it is done."""
        if not texts:
            return
        ray = connect(self.address)
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        workers = self.workers or gpus or max(1, int(resources.get("CPU", 1)))
        size = GPU_BATCH if gpus else CPU_BATCH
        log.info("Embedding %d texts on the Ray cluster at %s: %d workers, on %s.", len(texts), self.address,
                 workers, "GPUs" if gpus else "CPUs")
        # One row per batch, cut as a local build cuts them: the int8 model's vectors depend on the batch.
        batches = [{"start": start, "texts": texts[start : start + size]} for start in range(0, len(texts), size)]
        vectors = ray.data.from_items(batches, override_num_blocks=len(batches)).map_batches(
            EmbedWorker, fn_constructor_kwargs={"make": self.make, "settings": self.worker_settings,
                                                 "kind": kind},
            compute=ray.data.ActorPoolStrategy(size=workers), batch_size=1, batch_format="numpy",
            num_gpus=1 if gpus else 0, num_cpus=1,
        )
        try:
            # Ray restarts a worker that dies and hands its block to another: a build fails only when the cluster does.
            for batch in vectors.iter_batches(batch_size=None, batch_format="numpy"):
                positions = batch["position"].tolist()
                failed = {p: str(error) for p, error in zip(positions, batch["error"]) if error}
                yield Part(positions, np.asarray(batch["vector"], dtype=np.float32), failed)
        except Exception as exc:  # noqa: BLE001 - Ray's errors are many classes, each several screens long
            raise QAError(f"The Ray cluster at {self.address} failed during the build ({_first_line(exc)}); the index "
                          "is unchanged and the vectors done so far are kept: run `qa index` again.") from exc


class EmbedWorker:
    """One Ray worker: the settings' embedder, loaded once, embedding blocks of texts as a local build does."""

    def __init__(self, make: Callable[[Settings], Embedder], settings: Settings, kind: Kind):
        set_native_defaults()
        self.embedder, self.kind = make(settings), kind

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Rows of {start, texts} (one batch each) in, a row per text out: {position, vector, error ("" if none)}."""
        parts = [embed_each(self.embedder, [str(t) for t in texts], self.kind, int(start))
                 for start, texts in zip(rows["start"], rows["texts"])]
        return {"position": np.array([p for part in parts for p in part.positions]),
                "vector": np.concatenate([part.vectors for part in parts]),
                "error": np.array([part.failed.get(p, "") for part in parts for p in part.positions], dtype=object)}


def connect(address: str):
    """Ray, connected to the cluster at `address` (once per process); a QAError of one line when it cannot be."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise QAError(f"--ray (QA_RAY) needs Ray, which is not installed: {RAY_INSTALL}.") from None
    if ray.is_initialized():
        return ray
    address = check_ray_address(address)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # Ray reports usage to its makers unless told not to
    # Ray's progress and its note that token authentication is on (as it should be): qa says its own.
    # Ray Data's own stack traces too: what failed reaches qa index as an exception, said in one line.
    logging.getLogger("ray.data").setLevel(logging.CRITICAL)
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    if address not in ("auto", "local"):
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS).close()
        except OSError as exc:
            raise QAError(f"No Ray cluster answers at {address} ({exc.strerror or exc}): start one there with "
                          f"`ray start --head --port {port}`, or use --ray local.") from None
    try:
        if address == "local":  # a cluster for this process, stopped when it ends
            ray.init(address="local", _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
        else:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except Exception as exc:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError, Ray's own
        raise QAError(f"Could not join the Ray cluster at {address} ({_first_line(exc)}). Is it running (`ray start "
                      "--head`), and is its token here (RAY_AUTH_TOKEN, or ~/.ray/auth_token from the machine that "
                      "started it)? --ray local starts a cluster for this build.") from None
    ray.data.DataContext.get_current().print_on_execution_start = False
    return ray


def _first_line(exc: BaseException) -> str:
    """What went wrong, in one line: the last "SomeError: ..." line of Ray's report (the cause, on a worker), else
    its first line."""
    lines = [ANSI.sub("", line).strip() for line in str(exc).splitlines()]
    lines = [line for line in lines if line]
    causes = [line for line in lines if CAUSE.match(line)]
    return f"{type(exc).__name__}: {causes[-1] if causes else lines[0] if lines else ''}"[:300]
