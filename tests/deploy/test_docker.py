"""The shared Dockerfile (one image per service, by build arguments) and docker-compose.yml
(with the provider services `make manifests` generates), without a Docker engine:

- BuildKit's own Dockerfile linter (what `docker build --check` runs) and compose-go (what
  `docker compose config` runs), both inside tools/deploycheck;
- the shape each service's image has (stages, non-root user, port, health check, command);
- the builder stage replayed with uv on this machine for each service (same files copied, same
  `uv sync` commands, same environment and build arguments), then the runtime stage's venv +
  configs/ started on its own.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from photochanger_devstack import topology

from tests.deploy.support import (
    ALL_INTERFACES,
    COMPOSE,
    INTERNAL_PORTS,
    PROVIDER_SERVICES,
    REPO,
    SECRETS,
    SERVICES,
    environ,
    run_tool,
    settings_env_names,
)

pytestmark = pytest.mark.deploy

DOCKERFILE = REPO / "Dockerfile"


def build_args(service: str) -> dict[str, str]:
    """What `make images` passes for a service (`photochanger-devstack services`)."""
    return {"SERVICE": service, "PORT": str(SERVICES[service])}


def expand(text: str, values: dict[str, str]) -> str:
    """`${NAME}` as the Dockerfile frontend substitutes build arguments."""
    return re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)


COMPOSE_ENV = {"PHOTOCHANGER_INGEST_PASSWORD": "test-ingest-password"}


# -- a small Dockerfile reader ------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    flags: dict[str, str]
    args: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self, args: dict[str, str] | None = None) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for token in shlex.split(instruction.args):
                key, _, value = token.partition("=")
                values[key] = expand(value, args or {})
        return values


def parse_dockerfile(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages (line continuations and comments handled)."""
    logical: list[str] = []
    buffer = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not buffer):
            continue
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        logical.append(buffer + stripped)
        buffer = ""
    assert not buffer, f"{path}: dangling line continuation"
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        flags: dict[str, str] = {}
        rest = rest.strip()
        while rest.startswith("--"):
            token, _, rest = rest.partition(" ")
            key, _, value = token[2:].partition("=")
            flags[key] = value
            rest = rest.strip()
        if keyword == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], parts[0])
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base=base, name=name))
        elif keyword == "ARG" and not stages:
            key, _, value = rest.partition("=")
            args[key] = value
        else:
            assert stages, f"{path}: {keyword} before FROM"
            stages[-1].instructions.append(Instruction(keyword, flags, rest))
    return args, stages


def _stage(stages: list[Stage], name: str) -> Stage:
    (found,) = [s for s in stages if s.name == name]
    return found


# -- Dockerfiles --------------------------------------------------------------------------------


def test_dockerfiles_pass_the_buildkit_checks(deploycheck: Path) -> None:
    done = run_tool(deploycheck, "dockerfile", str(DOCKERFILE))
    reports = json.loads(done.stdout or "[]")
    problems = [r for r in reports if r["warnings"] or r.get("error")]
    assert done.returncode == 0 and not problems, json.dumps(problems, indent=2) + done.stderr


def test_the_buildkit_checks_catch_mistakes(deploycheck: Path, tmp_path: Path) -> None:
    """Control: a lint finding and a syntax error both fail the check."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11-slim as Runtime\nCMD python -m x\n")
    done = run_tool(deploycheck, "dockerfile", str(bad))
    rules = {w["rule"] for w in json.loads(done.stdout)[0]["warnings"]}
    assert done.returncode == 1 and {"FromAsCasing", "JSONArgsRecommended"} <= rules
    bad.write_text("FROM python:3.11-slim\nCOPPY . /app\n")
    done = run_tool(deploycheck, "dockerfile", str(bad))
    assert done.returncode == 1 and "unknown instruction" in json.loads(done.stdout)[0]["error"]


def test_there_is_one_dockerfile() -> None:
    assert not list((REPO / "services").glob("*/Dockerfile")), "services build from ./Dockerfile"


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_shape(service: str) -> None:
    port = SERVICES[service]
    args, stages = parse_dockerfile(DOCKERFILE)
    given = {**args, **build_args(service)}
    builder, runtime = _stage(stages, "builder"), stages[-1]
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    assert builder.base == runtime.base == "python:3.11-slim", "same Python in both stages"
    assert args["UV_IMAGE"].startswith("ghcr.io/astral-sh/uv:")

    syncs = [i.args for i in builder.all("RUN") if i.args.startswith("uv sync")]
    assert syncs, "the builder installs with uv sync"
    for command in syncs:
        words = shlex.split(command)
        assert {"--frozen", "--no-dev"} <= set(words)
        package = words[words.index("--package") + 1]
        assert re.sub(r"\$\{SERVICE[^}]*\}", service, package) == f"photochanger-{service}"
    assert "--no-editable" in shlex.split(syncs[-1]), "the venv must not point into /src"

    # runtime: only the venv from the builder, plus configs/
    copies = runtime.all("COPY")
    assert [(c.flags.get("from"), c.args) for c in copies] == [
        ("builder", "/app/.venv /app/.venv"),
        (None, "configs /app/configs"),
    ]
    (user,) = runtime.all("USER")
    uid = user.args.split(":")[0]
    assert uid.isdigit() and int(uid) > 0, "numeric non-root user (runAsNonRoot can verify it)"
    assert [expand(i.args, given) for i in runtime.all("EXPOSE")] == [str(port)]
    env = runtime.env(given)
    assert env["PHOTOCHANGER_HTTP_PORT"] == str(port)
    assert env["PHOTOCHANGER_SERVICE_NAME"] == service
    assert env["PHOTOCHANGER_HTTP_HOST"] == ALL_INTERFACES
    assert env["PATH"].startswith("/app/.venv/bin:")
    (cmd,) = runtime.all("CMD")
    assert json.loads(cmd.args) == ["python", "-m", "photochanger_runtime.launch"]
    (check,) = runtime.all("HEALTHCHECK")
    probe = json.loads(check.args.removeprefix("CMD").strip())
    assert probe[:2] == ["python", "-c"] and "urllib" in probe[2] and "/healthz" in probe[2]


def _base_python() -> str:
    return getattr(sys, "_base_executable", None) or sys.executable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ImageReplay:
    """The two stages of a Dockerfile replayed in a directory: container paths live under
    `root / builder` and `root / runtime`; only `uv sync` commands are run."""

    def __init__(self, dockerfile: Path, root: Path, args: dict[str, str]) -> None:
        defaults, self.stages = parse_dockerfile(dockerfile)
        self.args = {**defaults, **args}
        self.builder_root = root / "builder"
        self.runtime_root = root / "runtime"

    @staticmethod
    def _inside(root: Path, path: str, workdir: str) -> Path:
        posix = PurePosixPath(workdir) / path
        return root / str(posix).lstrip("/")

    def _copy(self, source: Path, target: Path, into_directory: bool) -> None:
        target = target / source.name if into_directory else target
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)

    def _mapped_env(self, stage: Stage, root: Path) -> dict[str, str]:
        mapped = {}
        for key, value in stage.env(self.args).items():
            value = value.replace("$PATH", os.environ.get("PATH", ""))
            mapped[key] = re.sub(r"(?<![\w.])/(app|src)\b", lambda m: f"{root}/{m.group(1)}", value)
        return mapped

    def build(self) -> None:
        builder = _stage(self.stages, "builder")
        workdir = "/"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
        env.update(self._mapped_env(builder, self.builder_root))
        env.update(self.args)  # build arguments are in the environment of RUN
        env["UV_PYTHON"] = _base_python()
        for step in builder.instructions:
            if step.keyword == "WORKDIR":
                workdir = step.args
                self._inside(self.builder_root, "", workdir).mkdir(parents=True, exist_ok=True)
            elif step.keyword == "COPY" and "from" not in step.flags:
                *sources, target = step.args.split()
                for source in sources:
                    self._copy(
                        REPO / source,
                        self._inside(self.builder_root, target, workdir),
                        into_directory=target.endswith("/"),
                    )
            elif step.keyword == "RUN":
                assert step.args.startswith("uv sync"), f"cannot replay RUN {step.args!r}"
                done = subprocess.run(
                    ["sh", "-c", step.args], cwd=self._inside(self.builder_root, "", workdir),
                    env=env, capture_output=True, text=True, timeout=150, check=False,
                )  # fmt: skip
                assert done.returncode == 0, f"{step.args}\n{done.stderr}"
        runtime = self.stages[-1]
        for step in runtime.all("COPY"):
            source, target = step.args.split()
            origin = (
                self._inside(self.builder_root, source, "/")
                if step.flags.get("from") == "builder"
                else REPO / source
            )
            self._copy(origin, self._inside(self.runtime_root, target, "/"), into_directory=False)

    def runtime_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in environ().items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
        env.update(self._mapped_env(self.stages[-1], self.runtime_root))
        env.update(extra)
        return env

    @property
    def python(self) -> Path:
        return self.runtime_root / "app" / ".venv" / "bin" / "python"

    @property
    def app_dir(self) -> Path:
        return self.runtime_root / "app"


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], ImageReplay]:
    """Each service's image replayed once per module."""
    built: dict[str, ImageReplay] = {}

    def get(service: str) -> ImageReplay:
        if service not in built:
            replay = ImageReplay(DOCKERFILE, tmp_path_factory.mktemp(service), build_args(service))
            replay.build()
            built[service] = replay
        return built[service]

    return get


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_contents_run_on_their_own(
    service: str, replayed: Callable[[str], ImageReplay]
) -> None:
    """Replay the builder stage with uv, keep what the runtime stage copies (the venv and
    configs/), and import the service from there with isolated Python: nothing may come from
    the repository checkout."""
    replay = replayed(service)
    probe = textwrap.dedent(f"""
        import importlib, json, os, sys
        from pathlib import Path
        from photochanger_contracts.slots import SETTINGS_MODELS
        from photochanger_runtime.providers.plugins import service_entry
        service_entry(os.environ["PHOTOCHANGER_SERVICE_NAME"])
        assert os.environ["PHOTOCHANGER_SERVICE_NAME"] == "{service}"
        from photochanger_runtime.config import repository_root
        from photochanger_runtime.providers.catalog import load_catalog
        catalog = load_catalog(Path(os.environ["PHOTOCHANGER_PROVIDERS_CONFIG"]))
        ours = {{m.__file__ for m in list(sys.modules.values())
                if getattr(m, "__file__", None) and "photochanger" in m.__name__}}
        print(json.dumps({{"root": str(repository_root()), "providers": list(catalog.ids()),
                          "settings": sorted(SETTINGS_MODELS), "files": sorted(ours)}}))
    """)
    done = subprocess.run(
        [str(replay.python), "-I", "-c", probe], cwd=replay.app_dir, env=replay.runtime_env(),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(found["root"]) == replay.app_dir, "configs/ must be found next to the venv"
    assert found["providers"] == list(topology.provider_ids())
    # every image can validate a slot of any provider (the api, the dispatcher, fallbacks)
    assert found["settings"] == sorted(topology.provider_ids())
    for path in found["files"]:
        assert Path(path).is_relative_to(replay.runtime_root / "app" / ".venv"), path
    assert not (replay.runtime_root / "src").exists()


def test_the_api_image_serves_healthz_to_its_healthcheck(
    replayed: Callable[[str], ImageReplay],
) -> None:
    """The api's CMD starts without Kafka or MongoDB, and the HEALTHCHECK command passes."""
    replay = replayed("api")
    runtime = replay.stages[-1]
    port = _free_port()
    env = replay.runtime_env(
        PHOTOCHANGER_HTTP_HOST="127.0.0.1",
        PHOTOCHANGER_HTTP_PORT=str(port),
        PHOTOCHANGER_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9",
        PHOTOCHANGER_MONGODB_URI="mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=500",
    )
    (cmd,) = runtime.all("CMD")
    (check,) = runtime.all("HEALTHCHECK")
    probe = json.loads(check.args.removeprefix("CMD").strip())
    assert probe[0] == "python"
    server = subprocess.Popen(
        [str(replay.python), *json.loads(cmd.args)[1:]], cwd=replay.app_dir, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            done = subprocess.run(
                [str(replay.python), *probe[1:]], env=env, capture_output=True, timeout=10,
                check=False,
            )  # fmt: skip
            if done.returncode == 0:
                break
            assert server.poll() is None, "the api exited"
            assert time.monotonic() < deadline, "HEALTHCHECK never passed"
            time.sleep(0.2)  # polling a starting server, bounded by the deadline
    finally:
        server.terminate()
        try:
            output, _ = server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
    assert "Traceback" not in output, output


# -- docker-compose.yml -------------------------------------------------------------------------


def _compose(deploycheck: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_tool(deploycheck, "compose", str(COMPOSE), env=environ(**env))


@pytest.fixture(scope="module")
def compose_project(deploycheck: Path) -> dict[str, Any]:
    done = _compose(deploycheck, **COMPOSE_ENV)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_compose_file_loads_and_names_every_service(compose_project: dict[str, Any]) -> None:
    services = compose_project["services"]
    assert set(services) == {"kafka", "mongodb", *SERVICES}
    kafka, mongodb = services["kafka"], services["mongodb"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"], "KRaft"
    assert not any("zookeeper" in json.dumps(s).lower() for s in services.values())
    assert mongodb["image"] == "mongo:7"
    for infra in (kafka, mongodb):
        assert infra["healthcheck"]["test"]
    for service in services.values():
        assert "photochanger_emulators" not in json.dumps(service), "emulators bind loopback"


@pytest.mark.parametrize("service", SERVICES)
def test_compose_builds_and_configures_each_service(
    compose_project: dict[str, Any], service: str
) -> None:
    spec = compose_project["services"][service]
    assert Path(spec["build"]["context"]) == REPO
    assert spec["build"]["dockerfile"] == "Dockerfile"
    assert spec["build"]["args"] == build_args(service)
    env = spec["environment"]
    assert env["PHOTOCHANGER_HTTP_PORT"] == str(SERVICES[service])
    assert env["PHOTOCHANGER_HTTP_HOST"] == ALL_INTERFACES
    assert env["PHOTOCHANGER_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    advertised = compose_project["services"]["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert "//kafka:9092" in advertised
    assert env["PHOTOCHANGER_MONGODB_URI"].startswith("mongodb://mongodb:27017")
    for name in env:
        assert name in settings_env_names()[service], f"{service} does not read {name}"
    # compose keeps media in a shared volume: no bucket credentials
    media_keys = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert SECRETS[service] - {"PHOTOCHANGER_MONGODB_URI"} - media_keys <= set(env)
    assert env["PHOTOCHANGER_MEDIA_URL"] == "file:///media"
    assert {"source": "media", "target": "/media"}.items() <= spec["volumes"][0].items()
    internal = [INTERNAL_PORTS[service]] if service in INTERNAL_PORTS else []
    assert [p["target"] for p in spec["ports"]] == [SERVICES[service], *internal]
    for port in spec["ports"]:  # only the api's public port leaves the host
        if service != "api" or port["target"] != SERVICES[service]:
            assert port.get("host_ip") == "127.0.0.1", port
    for dependency in ("kafka", "mongodb"):
        assert spec["depends_on"][dependency]["condition"] == "service_healthy"
    assert spec["read_only"] is True and spec["cap_drop"] == ["ALL"]


def test_compose_takes_secrets_from_the_environment(deploycheck: Path) -> None:
    raw = yaml.safe_load(COMPOSE.read_text())
    generated = yaml.safe_load(
        (REPO / "deploy" / "generated" / "compose.providers.yml").read_text()
    )
    assert set(generated["services"]) == set(PROVIDER_SERVICES)
    for service, spec in {**raw["services"], **generated["services"]}.items():
        for name, value in (spec.get("environment") or {}).items():
            if name in SECRETS.get(service, set()) - {"PHOTOCHANGER_MONGODB_URI"}:
                # `${NAME...}` interpolation, or no value: passed through from the shell
                assert value is None or re.fullmatch(
                    r"\$\{" + name + r"(:[-?][^}]*)?\}", str(value)
                ), name
    done = _compose(deploycheck)
    assert done.returncode != 0
    assert "PHOTOCHANGER_INGEST_PASSWORD" in done.stderr


# -- READMEs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_service_readme(service: str) -> None:
    text = (REPO / "services" / service / "README.md").read_text()
    assert str(SERVICES[service]) in text
    assert f"--build-arg SERVICE={service}" in text
    # whole names only (not patterns such as PHOTOCHANGER_GEMINI_<FIELD>)
    for name in set(re.findall(r"PHOTOCHANGER_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_<])", text)):
        assert name in settings_env_names()[service], f"README names {name}, not read by it"
