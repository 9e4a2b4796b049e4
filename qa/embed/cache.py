"""Passage vectors cached by (model, sha256 of the passage text) in SQLite, kept across builds."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
from pathlib import Path

import numpy as np

from qa.core.files import SQLITE_IDS_PER_QUERY

log = logging.getLogger("qa")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    model TEXT NOT NULL, sha256 TEXT NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (model, sha256)
) WITHOUT ROWID;
"""


def text_hash(text: str) -> str:
    """The cache key of a passage text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Vectors of one model; each write is its own SQLite transaction, so a crash loses at most the batch in flight."""

    def __init__(self, path: Path, model: str, dim: int):
        self.path, self.model, self.dim = Path(path), model, dim
        try:
            self.db = self._open(self.path)
        except sqlite3.OperationalError as e:  # a read-only folder, a full disk: embed without a lasting cache
            log.warning("The embedding cache %s cannot be opened (%s); vectors are kept for this build only.",
                        self.path, e)
            self.db = self._open(":memory:")
        except sqlite3.DatabaseError as e:
            log.warning("The embedding cache %s is damaged (%s); starting a new one.", self.path, e)
            self.path.unlink()
            self.db = self._open(self.path)

    @staticmethod
    def _open(path: Path | str) -> sqlite3.Connection:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path)
        db.executescript(_SCHEMA)
        return db

    def get(self, hashes: list[str]) -> dict[str, np.ndarray]:
        """Cached vectors for these text hashes; missing ones are left out."""
        found = {}
        unique = sorted(set(hashes))
        for i in range(0, len(unique), SQLITE_IDS_PER_QUERY):
            chunk = unique[i : i + SQLITE_IDS_PER_QUERY]
            rows = self.db.execute(
                f"SELECT sha256, vector FROM vectors WHERE model = ? AND sha256 IN ({','.join('?' * len(chunk))})",
                [self.model, *chunk],
            )
            for sha, blob in rows:
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape == (self.dim,):
                    found[sha] = vector
        return found

    def put(self, hashes: list[str], vectors: np.ndarray) -> None:
        """Store vectors under their text hashes; when the cache cannot be written, go on without it."""
        try:
            with self.db:
                self.db.executemany(
                    "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                    [(self.model, sha, np.asarray(v, dtype=np.float32).tobytes()) for sha, v in zip(hashes, vectors)],
                )
        except sqlite3.OperationalError as e:
            log.warning("The embedding cache %s cannot be written (%s); vectors are kept for this build only.",
                        self.path, e)
            self.db.close()
            self.db = self._open(":memory:")

    def keep_only(self, hashes: set[str]) -> None:
        """Forget this model's vectors for texts no longer indexed; other models' vectors stay."""
        with contextlib.suppress(sqlite3.OperationalError), self.db:  # a cache that cannot shrink now will later
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS keep (sha256 TEXT PRIMARY KEY)")
            self.db.execute("DELETE FROM keep")
            self.db.executemany("INSERT OR IGNORE INTO keep VALUES (?)", [(h,) for h in hashes])
            self.db.execute(
                "DELETE FROM vectors WHERE model = ? AND sha256 NOT IN (SELECT sha256 FROM keep)", (self.model,)
            )

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM vectors WHERE model = ?", (self.model,)).fetchone()[0]

    def close(self) -> None:
        self.db.close()
