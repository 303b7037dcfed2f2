"""Raw HTTP/1.1 requests whose bodies an attacker controls: declared huge, streamed forever
(chunked), or never sent — on a plain socket, so nothing in a client library buffers or
refuses them first."""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass


@dataclass
class Answer:
    status: int
    head: bytes
    #: body bytes the client managed to send before the server answered or hung up
    sent: int
    seconds: float


def _head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: api", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_answer(sock: socket.socket, timeout: float) -> tuple[int, bytes]:
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
             if line.startswith(b"content-length:")),
            0,
        )  # fmt: skip
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data


def send_body(
    port: int,
    method: str,
    path: str,
    *,
    total: int,
    headers: dict[str, str] | None = None,
    chunked: bool = False,
    declare: bool = True,
    prefix: bytes = b'{"username": "',
    timeout: float = 30,
) -> Answer:
    """Send `total` bytes of body (`prefix`, then filler; declared with Content-Length, or
    chunked) as long as the server reads it; stop at its first answer or when it hangs up."""
    head = {"Content-Type": "application/json", **(headers or {})}
    if chunked:
        head["Transfer-Encoding"] = "chunked"
    elif declare:
        head["Content-Length"] = str(total)
    started = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        sock.sendall(_head(method, path, head))
        sent = 0
        while sent < total:
            block = (prefix if sent == 0 else b"") + b"x" * (64 * 1024)
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            piece = block[: total - sent]
            data = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
            try:
                sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
            if time.monotonic() - started > timeout:
                break
        status, answer = _read_answer(sock, timeout)
        return Answer(status, answer, sent, time.monotonic() - started)
    finally:
        sock.close()


def stall_body(
    port: int, method: str, path: str, *, declared: int, send: bytes, headers: dict[str, str],
    timeout: float = 30,
) -> Answer:  # fmt: skip
    """Declare `declared` bytes, send only `send`, and wait for the answer."""
    started = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        sock.sendall(_head(method, path, {**headers, "Content-Length": str(declared)}) + send)
        status, answer = _read_answer(sock, timeout)
        return Answer(status, answer, len(send), time.monotonic() - started)
    finally:
        sock.close()
