"""Which database failures a worker waits out: the server's connection or storage away."""

from __future__ import annotations

import pytest
from photochanger_runtime.mongo import database_unavailable
from pymongo.errors import (
    AutoReconnect,
    DuplicateKeyError,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)

# what FerretDB answered an insert while its PostgreSQL was being restarted (make chaos)
FERRETDB_BACKEND_AWAY = (
    "[msg_insert.go:168 handler.(*Handler).MsgInsert] failed to connect to `user=ferretdb "
    "database=ferretdb`: /tmp/x/run/.s.PGSQL.38733 (/tmp/x/run): dial error: dial unix "
    "/tmp/x/run/.s.PGSQL.38733: connect: connection refused"
)


@pytest.mark.parametrize(
    "exc",
    [
        AutoReconnect("connection reset"),
        NetworkTimeout("timed out"),
        ServerSelectionTimeoutError("no servers"),
        OperationFailure(FERRETDB_BACKEND_AWAY, 1, {"ok": 0.0, "errmsg": FERRETDB_BACKEND_AWAY}),
        OperationFailure("x", 1, {"errmsg": "FATAL: the database system is starting up"}),
    ],
)
def test_a_database_that_is_away_for_now_is_waited_out(exc: Exception) -> None:
    assert database_unavailable(exc)


@pytest.mark.parametrize(
    "exc",
    [
        DuplicateKeyError("E11000 duplicate key", 11000),
        OperationFailure("unknown operator: $foo", 2, {"errmsg": "unknown operator: $foo"}),
        OperationFailure("x", 1, {"errmsg": "invalid document"}),
        ValueError("not a database error"),
    ],
)
def test_a_refusal_the_database_will_repeat_is_not(exc: Exception) -> None:
    assert not database_unavailable(exc)
