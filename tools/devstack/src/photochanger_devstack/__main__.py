"""Command line: ``photochanger-devstack install | infra | up | stop``.

- ``install``: download Kafka and build FerretDB and versitygw into the cache (idempotent);
- ``infra``: run both on fixed loopback ports with state under ``./.state`` until Ctrl-C or
  SIGTERM, then stop both;
- ``up``: ``infra`` plus the provider emulators and the five services (``make up``);
- ``s3``: run versitygw (a local S3-compatible server) in the foreground, with state under
  ``./.state/s3``, printing the ``PHOTOCHANGER_MEDIA_URL`` and ``AWS_*`` variables to use it;
- ``contracts``: write each service's AsyncAPI document (generated from its broker);
- ``manifests``: generate each provider's Kubernetes and Compose files, the Kafka users and
  the MongoDB roles script into deploy/generated;
- ``services``: print each service and its port (the build arguments of its image);
- ``stop``: stop whatever ``infra`` left running according to the pid files (``make down``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from photochanger_devstack import ferretdb, kafka, s3
from photochanger_devstack.errors import DevstackError
from photochanger_devstack.infra import ensure_installed, local_infrastructure
from photochanger_devstack.paths import StateLayout, cache_dir, default_state_dir
from photochanger_devstack.procs import pid_file_is_live, stop_pid_file, write_pid_file

ENV_KAFKA_PORT = "PHOTOCHANGER_KAFKA_PORT"
ENV_KAFKA_CONTROLLER_PORT = "PHOTOCHANGER_KAFKA_CONTROLLER_PORT"
ENV_FERRETDB_PORT = "PHOTOCHANGER_FERRETDB_PORT"
ENV_S3_PORT = "PHOTOCHANGER_S3_PORT"

_SUPERVISOR_PID = Path("devstack") / "infra.pid"


class _Terminated(BaseException):
    """Raised in the main thread by the SIGTERM/SIGHUP handler to unwind and stop servers."""


def _say(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


def _env_port(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise DevstackError(f"{name}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise DevstackError(f"{name}={raw!r} is not a port number")
    return port


def _cmd_install(_: argparse.Namespace) -> int:
    started = time.monotonic()
    _say(f"cache: {cache_dir()}")
    ensure_installed(_say, s3_needed=True)
    _say(f"done in {time.monotonic() - started:.1f} s")
    return 0


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    raise _Terminated(signal.Signals(signum).name)


def _cmd_infra(args: argparse.Namespace) -> int:
    layout = StateLayout(Path(args.state_dir).resolve())
    live = [path for path in layout.pid_files() if pid_file_is_live(path)]
    if live:
        raise DevstackError(
            f"a local stack is already running from {layout.root} ({', '.join(map(str, live))}); "
            "run `photochanger-devstack stop` first"
        )
    supervisor_pid = layout.root / _SUPERVISOR_PID
    write_pid_file(supervisor_pid, os.getpid(), sys.argv, group=False)
    # Explicit, also when started in the background by a shell (which ignores SIGINT there).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_terminated)
    signal.signal(signal.SIGHUP, _raise_terminated)
    idle = threading.Event()  # never set: waited on with a timeout to check the servers
    try:
        with local_infrastructure(
            kafka_port=args.kafka_port,
            kafka_controller_port=args.kafka_controller_port,
            mongodb_port=args.mongodb_port,
            state_dir=layout.root,
            use_testcontainers=False,
            log=_say,
        ) as infra:
            layout.env_file.write_text(
                "".join(f"{key}={value}\n" for key, value in infra.as_env().items())
            )
            _say(f"Kafka bootstrap servers: {infra.kafka_bootstrap_servers}")
            _say(f"MongoDB URI:             {infra.mongodb_uri}")
            _say(f"state and logs:          {layout.root} (addresses in {layout.env_file})")
            _say("running; press Ctrl-C to stop")
            while not (stopped := infra.stopped_servers()):
                idle.wait(1.0)
            _say(f"{', '.join(stopped)} exited unexpectedly; see {layout.log_dir}; stopping")
            return 1
    except (KeyboardInterrupt, _Terminated):
        _say("stopped")
        return 0
    finally:
        layout.env_file.unlink(missing_ok=True)
        supervisor_pid.unlink(missing_ok=True)


def _cmd_s3(args: argparse.Namespace) -> int:
    state = Path(args.state_dir).resolve() / "s3"
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_terminated)
    signal.signal(signal.SIGHUP, _raise_terminated)
    env_file = state / "s3.env"
    try:
        with s3.local_s3(port=args.port, state_dir=state, use_env=False) as server:
            assert server.running is not None
            values = {"PHOTOCHANGER_MEDIA_URL": server.media_url(), **server.aws_env}
            env_file.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
            _say(f"versitygw (S3) at {server.endpoint_url}, bucket {server.bucket!r}")
            for key, value in values.items():
                _say(f"  {key}={value}")
            _say(f"data and log under {state} (variables in {env_file}); Ctrl-C stops it")
            server.running.process.popen.wait()
            _say(f"versitygw exited unexpectedly; see {state / 'logs'}")
            return 1
    except (KeyboardInterrupt, _Terminated):
        _say("stopped")
        return 0
    finally:
        env_file.unlink(missing_ok=True)


def _cmd_up(args: argparse.Namespace) -> int:
    from photochanger_devstack import replicas, up
    from photochanger_devstack.stack import SERVICES

    # a wrong PHOTOCHANGER_REPLICAS is refused before anything starts
    replicas.parse_replicas(os.environ.get(replicas.ENV_REPLICAS), SERVICES)
    layout = StateLayout(Path(args.state_dir).resolve())
    if live := [path for path in layout.pid_files() if pid_file_is_live(path)]:
        raise DevstackError(
            f"a local stack is already running from {layout.root} ({', '.join(map(str, live))}); "
            "run `make down` first"
        )
    supervisor_pid = layout.root / _SUPERVISOR_PID
    write_pid_file(supervisor_pid, os.getpid(), sys.argv, group=False)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_terminated)
    signal.signal(signal.SIGHUP, _raise_terminated)
    try:
        with local_infrastructure(
            kafka_port=args.kafka_port,
            kafka_controller_port=args.kafka_controller_port,
            mongodb_port=args.mongodb_port,
            state_dir=layout.root,
            use_testcontainers=False,
            log=_say,
        ) as infra:
            _say(infra.describe())
            stack, follow_stop = up.run_stack(infra, layout.root)
            try:
                sample = up.write_sample_photo(layout.root / "sample.jpg")
                print(up.banner(stack, sample), flush=True)
                up.run_forever(up.supervise(stack, infra, _say), threading.Event())
            finally:
                # services first, while Kafka and FerretDB are still there to say goodbye to
                stack.stop_all()
                follow_stop.set()
    except (KeyboardInterrupt, _Terminated):
        _say("stopped")
        return 0
    finally:
        supervisor_pid.unlink(missing_ok=True)


def _cmd_contracts(_: argparse.Namespace) -> int:
    from photochanger_devstack.contracts import write_contracts

    for path in write_contracts():
        _say(f"wrote {path}")
    return 0


def _cmd_manifests(_: argparse.Namespace) -> int:
    from photochanger_devstack.manifests import write_manifests

    _say(
        f"wrote {write_manifests()} (each provider's Kubernetes and Compose services, every "
        "service's Kafka user, the MongoDB roles script)"
    )
    return 0


def _cmd_services(_: argparse.Namespace) -> int:
    """`NAME PORT` per line: what `make images` builds (the shared Dockerfile's build args)."""
    from photochanger_devstack import topology

    for service in topology.services():
        print(f"{service.name} {service.port}")
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    layout = StateLayout(Path(args.state_dir).resolve())
    supervisor = layout.root / _SUPERVISOR_PID
    # The supervisor first: it stops its servers itself; then whatever is left.
    candidates = [supervisor, *(path for path in layout.pid_files() if path != supervisor)]
    stopped = 0
    for pid_file in candidates:
        if stop_pid_file(pid_file):
            stopped += 1
            _say(f"stopped {pid_file.stem} ({pid_file})")
    layout.env_file.unlink(missing_ok=True)
    if not stopped:
        _say(f"nothing running under {layout.root}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photochanger-devstack",
        description="Local Kafka + FerretDB for PhotoChanger (no Docker needed).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    manifests = commands.add_parser(
        "manifests",
        help="generate each provider's Kubernetes and Compose files, the Kafka users and the "
        "MongoDB roles script into deploy/generated",
    )
    manifests.set_defaults(handler=_cmd_manifests)

    services = commands.add_parser(
        "services", help="print every service and its port (configs/providers.json included)"
    )
    services.set_defaults(handler=_cmd_services)

    install = commands.add_parser(
        "install",
        help="download Kafka and build FerretDB and versitygw into the cache (idempotent)",
    )
    install.set_defaults(handler=_cmd_install)

    infra = commands.add_parser("infra", help="run Kafka and FerretDB in the foreground")
    infra.add_argument(
        "--kafka-port",
        type=int,
        default=_env_port(ENV_KAFKA_PORT, kafka.DEFAULT_PORT),
        help=f"default ${ENV_KAFKA_PORT} or {kafka.DEFAULT_PORT}",
    )
    infra.add_argument(
        "--kafka-controller-port",
        type=int,
        default=_env_port(ENV_KAFKA_CONTROLLER_PORT, kafka.DEFAULT_CONTROLLER_PORT),
        help=f"default ${ENV_KAFKA_CONTROLLER_PORT} or {kafka.DEFAULT_CONTROLLER_PORT}",
    )
    infra.add_argument(
        "--mongodb-port",
        type=int,
        default=_env_port(ENV_FERRETDB_PORT, ferretdb.DEFAULT_PORT),
        help=f"default ${ENV_FERRETDB_PORT} or {ferretdb.DEFAULT_PORT}",
    )
    infra.add_argument("--state-dir", default=str(default_state_dir()), help="default ./.state")
    infra.set_defaults(handler=_cmd_infra)

    up = commands.add_parser(
        "up", help="infra + provider emulators + all five services in the foreground"
    )
    up.add_argument("--kafka-port", type=int, default=_env_port(ENV_KAFKA_PORT, kafka.DEFAULT_PORT))
    up.add_argument(
        "--kafka-controller-port",
        type=int,
        default=_env_port(ENV_KAFKA_CONTROLLER_PORT, kafka.DEFAULT_CONTROLLER_PORT),
    )
    up.add_argument(
        "--mongodb-port", type=int, default=_env_port(ENV_FERRETDB_PORT, ferretdb.DEFAULT_PORT)
    )
    up.add_argument("--state-dir", default=str(default_state_dir()), help="default ./.state")
    up.set_defaults(handler=_cmd_up)

    s3_command = commands.add_parser(
        "s3", help="run versitygw (local S3-compatible server) in the foreground"
    )
    s3_command.add_argument(
        "--port",
        type=int,
        default=_env_port(ENV_S3_PORT, s3.DEFAULT_PORT),
        help=f"default ${ENV_S3_PORT} or {s3.DEFAULT_PORT}",
    )
    s3_command.add_argument(
        "--state-dir", default=str(default_state_dir()), help="default ./.state"
    )
    s3_command.set_defaults(handler=_cmd_s3)

    contracts = commands.add_parser(
        "contracts", help="write each service's AsyncAPI document to spec/contracts/asyncapi/"
    )
    contracts.set_defaults(handler=_cmd_contracts)

    stop = commands.add_parser("stop", help="stop servers recorded in the state dir's pid files")
    stop.add_argument("--state-dir", default=str(default_state_dir()), help="default ./.state")
    stop.set_defaults(handler=_cmd_stop)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        result: int = args.handler(args)
    except DevstackError as exc:
        print(f"photochanger-devstack: error: {exc}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())
