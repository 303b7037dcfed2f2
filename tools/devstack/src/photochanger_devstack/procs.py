"""Background server processes: start with a log file and a pid file, stop without orphans.

Every server runs in its own process group (session), so stopping it signals the whole group:
SIGTERM first, SIGKILL after a grace period. On Linux the server also gets SIGTERM when the
process that started it dies (``setpriv --pdeathsig``), so a killed test run does not leave
servers behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from photochanger_devstack.errors import DevstackError

DEFAULT_STOP_TIMEOUT = 30.0
_POLL_INTERVAL = 0.05


def _proc_stat_fields(pid: int) -> list[str] | None:
    """Return the fields of ``/proc/<pid>/stat`` from field 3 (state) on, if readable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    return stat.rpartition(")")[2].split()


def _proc_start_time(pid: int) -> str | None:
    """Return the kernel start time of ``pid`` (guards against pid reuse), if readable."""
    fields = _proc_stat_fields(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def _pid_alive(pid: int) -> bool:
    """Return True if ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _proc_stat_fields(pid)
    return not (fields and fields[0] in {"Z", "X"})


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _signal_pid(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_until_false(alive: Callable[[], bool], deadline: float) -> bool:
    while alive():
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_INTERVAL)
    return True


def _wait_group_gone(pgid: int, deadline: float) -> bool:
    return _wait_until_false(lambda: _group_alive(pgid), deadline)


def tail(path: Path, lines: int = 30) -> str:
    """Return the last ``lines`` lines of a log file (empty if it does not exist)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


@dataclass
class BackgroundProcess:
    """A server process started by this Python process (its own process group)."""

    name: str
    popen: subprocess.Popen[bytes]
    log_file: Path
    pid_file: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def is_running(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def kill(self) -> int:
        """SIGKILL the process group at once (a crash: nothing runs its shutdown)."""
        _signal_group(self.popen.pid, signal.SIGKILL)
        return self.stop(timeout=5.0)

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> int:
        """Stop the process group: SIGTERM, wait up to ``timeout`` s, then SIGKILL.

        Returns the exit code of the main process (negative: killed by that signal). Idempotent.
        """
        pgid = self.popen.pid
        deadline = time.monotonic() + timeout
        if self.popen.poll() is None:
            _signal_group(pgid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        if self.popen.poll() is None or not _wait_group_gone(pgid, deadline):
            _signal_group(pgid, signal.SIGKILL)
            self.popen.wait()
            _wait_group_gone(pgid, time.monotonic() + 5.0)
        with contextlib.suppress(FileNotFoundError):
            if _read_pid_record(self.pid_file).get("pid") == pgid:
                self.pid_file.unlink()
        return self.popen.returncode


def _read_pid_record(pid_file: Path) -> dict[str, object]:
    """Return the JSON record of a pid file ({} if unreadable); FileNotFoundError if missing."""
    try:
        record = json.loads(pid_file.read_text())
    except FileNotFoundError:
        raise
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def write_pid_file(pid_file: Path, pid: int, argv: Sequence[str], *, group: bool) -> None:
    """Record ``pid`` (a process-group leader if ``group``) for :func:`stop_pid_file`."""
    record = {"pid": pid, "group": group, "start_time": _proc_start_time(pid), "argv": list(argv)}
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = pid_file.with_name(f"{pid_file.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record))
    tmp.replace(pid_file)


def _live_pid(record: dict[str, object]) -> int | None:
    pid = record.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    recorded_start = record.get("start_time")
    if recorded_start is not None and recorded_start != _proc_start_time(pid):
        return None  # the pid was reused by another process
    return pid if _pid_alive(pid) else None


def start_background(
    name: str,
    argv: Sequence[str],
    *,
    log_file: Path,
    pid_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    die_with_parent: bool = True,
) -> BackgroundProcess:
    """Start ``argv`` in a new session with stdout+stderr appended to ``log_file``.

    Records ``{"pid", "start_time", "argv"}`` in ``pid_file`` for :func:`stop_pid_file`. With
    ``die_with_parent`` (Linux, needs ``setpriv``), the server receives SIGTERM when the
    *thread* that started it exits, so call this from a long-lived thread.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    command = list(argv)
    setpriv = shutil.which("setpriv") if die_with_parent else None
    if setpriv is not None:
        command = [setpriv, "--pdeathsig", "TERM", "--", *command]
    with log_file.open("ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        log.flush()
        try:
            popen = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=dict(env) if env is not None else None,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise DevstackError(f"cannot start {name} ({argv[0]}): {exc}") from exc
    write_pid_file(pid_file, popen.pid, argv, group=True)
    return BackgroundProcess(name=name, popen=popen, log_file=log_file, pid_file=pid_file)


def stop_pid_file(pid_file: Path, timeout: float = DEFAULT_STOP_TIMEOUT) -> bool:
    """Stop the process recorded in ``pid_file`` by another Python process, then remove the file.

    Process groups get SIGTERM, then SIGKILL after ``timeout`` s; a single process (the ``infra``
    supervisor) gets SIGTERM and is waited for. Returns True if a live process was signalled; a
    stale pid file (process gone, or the pid now belongs to someone else) is just removed.
    """
    try:
        record = _read_pid_record(pid_file)
    except FileNotFoundError:
        return False
    pid = _live_pid(record)
    if pid is not None:
        deadline = time.monotonic() + timeout
        if record.get("group") is False:
            _signal_pid(pid, signal.SIGTERM)
            if not _wait_until_false(lambda: _pid_alive(pid), deadline):
                _signal_pid(pid, signal.SIGKILL)
                _wait_until_false(lambda: _pid_alive(pid), time.monotonic() + 5.0)
        else:
            _signal_group(pid, signal.SIGTERM)
            if not _wait_until_false(lambda: _pid_alive(pid), deadline):
                _signal_group(pid, signal.SIGKILL)
                _wait_until_false(lambda: _pid_alive(pid), time.monotonic() + 5.0)
            _signal_group(pid, signal.SIGKILL)  # whatever else is left in the group
    with contextlib.suppress(FileNotFoundError):
        pid_file.unlink()
    return pid is not None


def pid_file_is_live(pid_file: Path) -> bool:
    """Return True if ``pid_file`` names a process that is still running."""
    try:
        return _live_pid(_read_pid_record(pid_file)) is not None
    except FileNotFoundError:
        return False


@dataclass
class Running:
    """A started, ready server: its client address and its process."""

    name: str
    address: str
    process: BackgroundProcess
    _on_stopped: list[Callable[[], None]] = field(default_factory=list, repr=False)
    #: starts the same server again (same port and state); its argument is ``die_with_parent``
    relaunch: Callable[[bool], Running] | None = field(default=None, repr=False)

    def add_stop_callback(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after the process has exited (e.g., to keep a file it wrote)."""
        self._on_stopped.append(callback)

    def restart(self, *, die_with_parent: bool = True) -> None:
        """Start the server again in place (after it died, or was stopped): same address,
        same state. Start it from the main thread, or pass ``die_with_parent=False``: the
        parent-death signal fires when the thread that started a process ends."""
        if self.relaunch is None:
            raise DevstackError(f"{self.name} cannot be restarted")
        self.stop(timeout=5.0)
        fresh = self.relaunch(die_with_parent)
        self.process, self._on_stopped = fresh.process, fresh._on_stopped

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        """Stop the server (idempotent)."""
        self.process.stop(timeout)
        callbacks, self._on_stopped = self._on_stopped, []
        for callback in callbacks:
            callback()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
