"""Answer concurrent single lookups with one call of the public verb."""

import zipfile
import zlib
from typing import Any

from ..errors import IcsgeoError
from .models import MAX_BULK

__all__ = ["Coalescer", "DATA_ERRORS", "DAMAGED"]

#: Errors of the data, not of a query: icsgeo's own, and what a damaged file raises where a reader
#: lets it through (a zip member with a bad CRC, a deflate stream that does not decompress, a file
#: cut short). Every request needing that data gets the same 503.
DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError)
DATA_ERRORS = (IcsgeoError, *DAMAGED)


class Coalescer:
    """Answer concurrent single lookups with one call of the public verb.

    ``where`` and ``assign`` cost about the same for one query as for a hundred, so requests that
    arrive while a call is running wait for the next call and share it (no timer: an idle server
    answers a lone request at once). At most ``workers`` calls per key run at a time, in the threadpool,
    and with ``limiter`` (a function of the key) at most its limiter's tokens across the calls sharing it. If a
    shared call fails unexpectedly, its queries are retried one by one so only the culprit fails.
    """

    def __init__(self, answer, workers: int = 1, max_batch: int = MAX_BULK, limiter=None):
        self.answer, self.workers, self.max_batch = answer, workers, max_batch
        self.limiter = limiter  # key -> the anyio CapacityLimiter its calls share (or None), or None
        self.pending: dict[Any, list] = {}
        self.running: dict[Any, int] = {}
        self.calls = self.queries = 0
        self._tasks: set = set()  # the event loop keeps only weak references to tasks

    async def __call__(self, key: Any, query: Any) -> dict:
        import asyncio

        future = asyncio.get_running_loop().create_future()
        self.pending.setdefault(key, []).append((query, future))
        if self.running.get(key, 0) < self.workers:
            self.running[key] = self.running.get(key, 0) + 1
            task = asyncio.ensure_future(self._drain(key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self, key: Any) -> None:
        import anyio

        try:
            while self.pending.get(key):
                batch, self.pending[key] = self.pending[key][: self.max_batch], self.pending[key][self.max_batch:]
                queries = [q for q, _ in batch]
                self.calls, self.queries = self.calls + 1, self.queries + len(queries)
                try:
                    results = await anyio.to_thread.run_sync(self.answer, key, queries, limiter=self._limiter(key))
                except DATA_ERRORS as exc:  # the data, not the query: every request gets the same 503
                    results = [exc] * len(batch)
                except Exception as exc:  # noqa: BLE001 - a bug: find the query that triggers it
                    results = [exc] if len(batch) == 1 else [await self._one(key, q) for q in queries]
                for (_, future), result in zip(batch, results):
                    if future.done():  # the client went away
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self.running[key] -= 1

    def _limiter(self, key):
        return self.limiter(key) if self.limiter is not None else None

    async def _one(self, key: Any, query: Any):
        import anyio

        try:
            return (await anyio.to_thread.run_sync(self.answer, key, [query], limiter=self._limiter(key)))[0]
        except Exception as exc:  # noqa: BLE001 - handed to that request's handler
            return exc
