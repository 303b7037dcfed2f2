"""The end-to-end tests of this folder run on a platform whose media store is an S3 bucket
on a real S3-compatible server (versitygw started by the devstack, or the bucket named by
`PHOTOCHANGER_TEST_S3_URL`): `PHOTOCHANGER_MEDIA_URL=s3://…` for every service."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from photochanger_devstack.infra import Infrastructure
from photochanger_devstack.s3 import S3Server
from photochanger_devstack.stack import Stack

from tests.e2e.platforms import own_broker, start_stack
from tests.support.otlp import SpanStore


@pytest.fixture(scope="session")
def stack(  # the same name: every fixture built on `stack` uses this one here
    infra: Infrastructure,
    tmp_path_factory: pytest.TempPathFactory,
    spans: SpanStore,
    s3_server: S3Server,
) -> Iterator[Stack]:
    del spans
    state = tmp_path_factory.mktemp("stack-s3")
    with own_broker(infra, state) as own:
        platform = start_stack(
            own,
            state,
            {
                "PHOTOCHANGER_MEDIA_URL": s3_server.media_url(f"e2e-{uuid.uuid4().hex[:8]}"),
                **s3_server.aws_env,
            },
        )
        try:
            yield platform
        finally:
            platform.stop_all()
