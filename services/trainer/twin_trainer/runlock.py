"""One training run per author at a time, across processes, replicas and Kubernetes Jobs: a PostgreSQL advisory
lock keyed by (tenant, author id), held on its own connection for the whole run. A crashed holder's connection
closes and the lock goes with it, so a lock is never left behind."""

from __future__ import annotations

import hashlib
import time


def lock_key(tenant_id: str, author_id: str) -> int:
    """A signed 64-bit key for pg_advisory_lock from the tenant and author (stable across processes)."""
    digest = hashlib.sha256(f"twin-trainer:{tenant_id}:{author_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class LockBusy(RuntimeError):
    """Another run of this author holds the lock."""


class AuthorRunLock:
    def __init__(self, dsn: str, tenant_id: str, author_id: str):
        self.dsn = dsn
        self.key = lock_key(tenant_id, author_id)
        self.tenant_id, self.author_id = tenant_id, author_id
        self._conn = None

    def try_acquire(self) -> bool:
        import psycopg

        conn = psycopg.connect(self.dsn, autocommit=True)
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()[0]
        if got:
            self._conn = conn
        else:
            conn.close()
        return bool(got)

    def acquire(self, wait_s: float = 0.0, poll_s: float = 1.0) -> None:
        """Take the lock, waiting up to `wait_s` seconds; LockBusy if another run still holds it."""
        deadline = time.monotonic() + wait_s
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                raise LockBusy(f"a training run of author {self.author_id} (tenant {self.tenant_id}) is in progress")
            time.sleep(poll_s)

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            finally:
                self._conn.close()
                self._conn = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def __enter__(self) -> AuthorRunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def is_locked(dsn: str, tenant_id: str, author_id: str) -> bool:
    """Whether a run of the author holds the lock now (a momentary look; the run itself still takes the lock)."""
    probe = AuthorRunLock(dsn, tenant_id, author_id)
    if probe.try_acquire():
        probe.release()
        return False
    return True
