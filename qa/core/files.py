"""Files every stage writes: one way to replace a file atomically, and how many ids one SQLite query binds."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

SQLITE_IDS_PER_QUERY = 500  # well below SQLite's limit on bound parameters


def write_atomically(target: Path, make: Callable[[Path], None]) -> None:
    """Run `make(path)` to write a file in a fresh folder beside `target`, then rename it into place, durably.

    A crash leaves the old file or the new one, never half of one; files `make` writes beside its own (an export's
    intermediate graph) stay in that folder, so two processes never share them.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        made = folder / target.name
        make(made)
        with open(made, "rb") as f:
            os.fsync(f.fileno())
        os.replace(made, target)
        _fsync_folder(target.parent)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (where the platform allows opening a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
