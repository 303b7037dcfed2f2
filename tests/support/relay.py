"""A loopback TCP relay in front of a real server (Kafka) that refuses connections the way
an absent or swamped server does: the client's connection is closed at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class Relay:
    """A loopback TCP relay to Kafka that closes the connections it is told to refuse: all of
    them while `refusing`, and those whose number (from 1) is in `drop`."""

    def __init__(
        self, target: str, *, refusing: bool = False, drop: frozenset[int] = frozenset()
    ) -> None:
        host, port = target.rsplit(":", 1)
        self._target = (host, int(port))
        self.refusing = refusing
        self.drop = drop
        self.accepted = 0
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"{host}:{port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_connection, "127.0.0.1", 0)

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    def open_dropping(self, *nth: int) -> None:
        """Stop refusing, except the `nth` connections from now on (counted from 1)."""
        self.drop = frozenset(self.accepted + n for n in nth)
        self.refusing = False

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.accepted += 1
        if self.refusing or self.accepted in self.drop:
            self.refused += 1
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            pipe = asyncio.create_task(_pipe(source, sink))
            self._pipes.add(pipe)
            pipe.add_done_callback(self._pipes.discard)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        sink.close()


@contextlib.asynccontextmanager
async def relay_to(
    target: str, *, refusing: bool = False, drop: frozenset[int] = frozenset()
) -> AsyncIterator[Relay]:
    """A running relay to `target` (host:port), closed on exit."""
    relay = Relay(target, refusing=refusing, drop=drop)
    await relay.start()
    try:
        yield relay
    finally:
        await relay.close()
