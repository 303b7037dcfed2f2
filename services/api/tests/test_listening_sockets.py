"""How the api listens: alone on its port by default; with `http_reuse_port`, on a port other
api processes share (SO_REUSEPORT) plus a port of its own (local replicas)."""

from __future__ import annotations

import contextlib
import socket

import pytest
import uvicorn
from photochanger_api.__main__ import listening_sockets, shared_socket
from photochanger_api.settings import ApiSettings
from photochanger_devstack.ports import free_ports

pytestmark = pytest.mark.unit


def _config(settings: ApiSettings) -> uvicorn.Config:
    return uvicorn.Config("x:y", host=settings.http_host, port=settings.http_port)


def test_by_default_uvicorn_binds_the_port_itself() -> None:
    settings = ApiSettings(jwt_secret="x" * 32, http_port=free_ports(1)[0])
    assert listening_sockets(settings, _config(settings)) is None


def test_replicas_share_the_api_port_and_each_has_its_own() -> None:
    shared, own_a, own_b = free_ports(3)
    a = ApiSettings(jwt_secret="x" * 32, http_port=shared, http_reuse_port=True,
                    replica_http_port=own_a)  # fmt: skip
    b = ApiSettings(jwt_secret="x" * 32, http_port=shared, http_reuse_port=True,
                    replica_http_port=own_b)  # fmt: skip
    with contextlib.ExitStack() as opened:
        for settings in (a, b):
            sockets = listening_sockets(settings, _config(settings)) or []
            for sock in sockets:
                opened.callback(sock.close)
            assert [s.getsockname()[1] for s in sockets] == [shared, settings.replica_http_port]
        # a program that does not ask to share the port cannot take it
        with socket.socket() as other, pytest.raises(OSError):
            other.bind(("127.0.0.1", shared))


def test_a_shared_socket_refuses_a_port_taken_by_a_process_that_does_not_share() -> None:
    (port,) = free_ports(1)
    with socket.socket() as owner:
        owner.bind(("127.0.0.1", port))
        owner.listen()
        with pytest.raises(OSError):
            shared_socket("127.0.0.1", port)
