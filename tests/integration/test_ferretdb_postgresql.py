"""FerretDB on the dev stack's PostgreSQL: reads by ``_id`` use an index (ADR-0011).

FerretDB 1.24.2 looks a document up with ``SELECT _jsonb FROM t WHERE _jsonb->$1 @> $2``; its
own unique ``_id`` index is a btree, which ``@>`` cannot use, so without the GIN index that the
dev stack's event trigger adds to every new table each ``{_id: ...}`` read scans the table.
Runs only when the session's MongoDB is the local FerretDB on PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from photochanger_devstack import Infrastructure, postgres
from pymongo import ASCENDING, MongoClient

pytestmark = pytest.mark.integration

Doc = dict[str, Any]


@pytest.fixture
def database(infra: Infrastructure) -> postgres.PostgresServer:
    for server in infra.servers:
        if isinstance(server, postgres.PostgresServer):
            return server
    pytest.skip("MongoDB is not the local FerretDB on PostgreSQL")


@pytest.fixture
def db_name(mongodb_uri: str) -> Iterator[str]:
    name = f"it_{uuid.uuid4().hex[:16]}"
    yield name
    with MongoClient[Doc](mongodb_uri) as client:
        client.drop_database(name)


def _table(conn: postgres.Connection, db_name: str, collection: str) -> str:
    rows = conn.query(
        f"SELECT _jsonb->>'table' FROM \"{db_name}\"._ferretdb_database_metadata "  # noqa: S608
        f"WHERE _jsonb->>'_id' = '{collection}'"
    )
    assert rows, f"FerretDB has no table for {collection}"
    table = rows[0][0]
    assert table is not None
    return table


def test_every_collection_gets_a_gin_index_on_id_and_reads_use_it(
    database: postgres.PostgresServer, mongodb_uri: str, db_name: str
) -> None:
    with MongoClient[Doc](mongodb_uri) as client:
        jobs = client[db_name]["jobs"]
        jobs.insert_many([{"_id": f"job-{i}", "status": "pending"} for i in range(2_000)])
        jobs.create_index([("status", ASCENDING)])
        assert jobs.find_one({"_id": "job-1234"}) == {"_id": "job-1234", "status": "pending"}

    with postgres.Connection(database.endpoint) as conn:
        table = _table(conn, db_name, "jobs")
        indexes = [
            row[0] or ""
            for row in conn.query(
                f"SELECT indexdef FROM pg_indexes WHERE schemaname = '{db_name}' "  # noqa: S608
                f"AND tablename = '{table}'"
            )
        ]
        assert any("USING gin" in d and "'_id'" in d for d in indexes), indexes
        # FerretDB's own index on `status` is a btree that its `@>` filters cannot use
        assert any("USING btree" in d and "'status'" in d for d in indexes), indexes

        conn.query(f'ANALYZE "{db_name}"."{table}"')
        conn.query(
            f'PREPARE by_id(text, jsonb) AS SELECT _jsonb FROM "{db_name}"."{table}" '  # noqa: S608
            "WHERE _jsonb->$1 @> $2"
        )
        explain = "EXPLAIN EXECUTE by_id('_id', '\"job-7\"')"
        # 8 times: past the 5 custom plans after which a generic plan could be chosen
        plans = ["\n".join(row[0] or "" for row in conn.query(explain)) for _ in range(8)]
    assert all("Index Scan" in plan for plan in plans), plans[-1]


def test_the_job_paths_delete_by_id_uses_an_index(
    database: postgres.PostgresServer, mongodb_uri: str, db_name: str
) -> None:
    """Retiring a live record (`delete_one({_id})`) is FerretDB's SELECT by `_id` (the GIN
    index, above) and then `DELETE … WHERE _jsonb->'_id' IN (…)`: an index scan as well."""
    with MongoClient[Doc](mongodb_uri) as client:
        live = client[db_name]["jobs_live"]
        live.insert_many([{"_id": f"job-{i}", "status": "pending"} for i in range(2_000)])
        assert live.delete_one({"_id": "job-42"}).deleted_count == 1

    with postgres.Connection(database.endpoint) as conn:
        table = _table(conn, db_name, "jobs_live")
        conn.query(f'ANALYZE "{db_name}"."{table}"')
        plan = "\n".join(
            row[0] or ""
            for row in conn.query(
                f'EXPLAIN DELETE FROM "{db_name}"."{table}" '  # noqa: S608
                "WHERE _jsonb->'_id' IN ('\"job-7\"')"
            )
        )
    assert "Index Scan" in plan or "Index Only Scan" in plan, plan
