"""How long the api's database operations may take.

The api's MongoDB client bounds every operation at `database_timeout_seconds` (1 s),
retries included: an ingest, a public read or a waiting request's re-read facing a database
that went away answers 503 within two seconds instead of waiting while the driver retries.
Operators' aggregations over many jobs and the start-up work (indexes, seeds) are the
exceptions: each runs inside `patient()`, one budget for all its operations together."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterator
from typing import ParamSpec, TypeVar

import pymongo

P = ParamSpec("P")
R = TypeVar("R")

#: the budget of one operator query (statistics over 30 days, a page of the job list) or of
#: the start-up preparation
PATIENT_SECONDS = 30.0


@contextlib.contextmanager
def patient() -> Iterator[None]:
    with pymongo.timeout(PATIENT_SECONDS):
        yield


def patiently(query: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Run an async query inside `patient()`."""

    @functools.wraps(query)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with patient():
            return await query(*args, **kwargs)

    return run
