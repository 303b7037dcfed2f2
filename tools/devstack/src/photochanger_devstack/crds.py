"""The CustomResourceDefinitions of every custom kind deploy/k8s uses, from each project's own
published package, cached under ``<cache>/crds-<fingerprint>/``:

- KEDA, the Prometheus Operator, the Gateway API and cert-manager publish Go modules that carry
  their CRD YAML: ``go mod download`` of the pinned version, then the files named below;
- Strimzi publishes no CRD YAML in any registry reachable here, but its API model
  (``io.strimzi:api``) and its CRD generator (``io.strimzi:crd-generator``) are on Maven
  Central: ``tools/strimzi-crds/pom.xml`` resolves them and the generator writes the
  KafkaTopic and KafkaUser CRDs with the arguments of Strimzi's own build (API versions
  v1alpha1-v1, v1beta2 stored, v1 served).
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from photochanger_devstack.errors import DevstackError
from photochanger_devstack.installs import exclusive_lock, fingerprint, is_complete, write_marker
from photochanger_devstack.java import java_executable, maven_executable
from photochanger_devstack.paths import cache_dir, tools_dir

#: Go module -> version and the CRD files (paths inside the module) to take
GO_MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "github.com/kedacore/keda/v2": (
        "v2.20.2",
        (
            "config/crd/bases/keda.sh_scaledobjects.yaml",
            "config/crd/bases/keda.sh_triggerauthentications.yaml",
        ),
    ),
    "github.com/prometheus-operator/prometheus-operator": (
        "v0.85.0",
        tuple(
            f"example/prometheus-operator-crd/monitoring.coreos.com_{name}.yaml"
            for name in ("podmonitors", "servicemonitors", "prometheusrules")
        ),
    ),
    "sigs.k8s.io/gateway-api": (
        "v1.6.3",
        (
            "config/crd/standard/gateway.networking.k8s.io_httproutes.yaml",
            "config/crd/standard/gateway.networking.k8s.io_referencegrants.yaml",
        ),
    ),
    "github.com/cert-manager/cert-manager": (
        "v1.21.2",
        ("deploy/crds/cert-manager.io_certificates.yaml",),
    ),
}
#: Strimzi's CRD generator: class -> file, with the arguments of Strimzi's own build
STRIMZI_KINDS = {
    "io.strimzi.api.kafka.model.topic.KafkaTopic": "kafka.strimzi.io_kafkatopics.yaml",
    "io.strimzi.api.kafka.model.user.KafkaUser": "kafka.strimzi.io_kafkausers.yaml",
}
STRIMZI_ARGUMENTS = (
    "--label", "app:strimzi", "--label", "strimzi.io/crd-install:true",
    "--target-kube", "1.16+", "--crd-api-version", "v1",
    "--api-versions", "v1alpha1,v1beta1,v1beta2,v1", "--storage-version", "v1beta2",
    "--yaml",
)  # fmt: skip


def strimzi_pom() -> Path:
    return tools_dir() / "strimzi-crds" / "pom.xml"


def _fingerprint() -> str:
    return fingerprint([strimzi_pom()], json.dumps(GO_MODULES), json.dumps(STRIMZI_KINDS))


def crd_dir() -> Path:
    return cache_dir() / f"crds-{_fingerprint()[:12]}"


def _run(command: list[str], what: str, cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        output = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise DevstackError(f"{what} failed ({shlex.join(command)}):\n{output}")
    return done.stdout


def _go_module_crds(into: Path, scratch: Path) -> None:
    go = shutil.which("go")
    if go is None:
        raise DevstackError("Go is needed to download the CRDs of KEDA, Prometheus Operator, ...")
    for module, (version, files) in GO_MODULES.items():
        answer = _run([go, "mod", "download", "-json", f"{module}@{version}"],
                      f"downloading {module}@{version}", scratch)  # fmt: skip
        folder = Path(json.loads(answer)["Dir"])
        for name in files:
            shutil.copyfile(folder / name, into / Path(name).name)


def _strimzi_crds(into: Path, scratch: Path) -> None:
    classpath = scratch / "strimzi.classpath"
    _run([maven_executable(), "-q", "-B", "--no-transfer-progress", "-f", str(strimzi_pom()),
          "dependency:build-classpath", f"-Dmdep.outputFile={classpath}"],
         "resolving Strimzi's API and CRD generator", scratch)  # fmt: skip
    targets = [f"{kind}={into / name}" for kind, name in STRIMZI_KINDS.items()]
    _run([java_executable(), "-cp", classpath.read_text().strip(),
          "io.strimzi.crdgenerator.CrdGenerator", *STRIMZI_ARGUMENTS, *targets],
         "generating Strimzi's CRDs", scratch)  # fmt: skip


def ensure_installed() -> Path:
    """Fetch (once) every CRD into the cache; return the folder of YAML files."""
    target = crd_dir()
    expected = _fingerprint()
    if is_complete(target, expected):
        return target
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(root / "crds.lock"):
        if is_complete(target, expected):
            return target
        staging = Path(tempfile.mkdtemp(prefix=".crds-", dir=root))
        scratch = Path(tempfile.mkdtemp(prefix=".crds-work-", dir=root))
        try:
            _go_module_crds(staging, scratch)
            _strimzi_crds(staging, scratch)
            staging.chmod(0o755)
            write_marker(staging, expected)
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(scratch, ignore_errors=True)
    return target
