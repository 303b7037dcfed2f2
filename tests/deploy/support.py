"""Helpers of the deployment tests: the offline tools, rendered manifests, the metric catalogue
of photochanger_runtime.observability.metrics and a small PromQL scanner."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from photochanger_devstack import topology

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "prod")
INSTALL_SCRIPT = REPO / "tools" / "deploycheck" / "install-tools.sh"
DASHBOARD = DEPLOY / "grafana" / "photochanger-dashboard.json"
RULES = DEPLOY / "prometheus" / "rules.yaml"
RULE_TESTS = DEPLOY / "prometheus" / "rules.test.yaml"
COMPOSE = REPO / "docker-compose.yml"
ASYNCAPI = REPO / "spec" / "contracts" / "asyncapi"

#: service -> the port of its HTTP endpoint (api) or of /healthz /readyz /metrics: the core
#: services and one per provider of configs/providers.json
SERVICES: dict[str, int] = topology.service_ports()
PROVIDER_SERVICES = tuple(s.name for s in topology.services() if s.provider_id is not None)
#: services with a second, internal port: /metrics, /readyz and the OpenAPI pages live there
INTERNAL_PORTS: dict[str, int] = {"api": 8001}
#: Kafka consumer groups of the services that KEDA scales on lag, and their topics
SCALED_CONSUMERS: dict[str, tuple[str, str]] = {
    "dispatcher": ("dispatcher", "jobs.created"),
    **{
        f"provider-{p}": (f"provider-{p}", f"provider.{p}.requests")
        for p in topology.provider_ids()
    },
}
#: secrets the core services read (Secret keys are the variable names)
CORE_SECRETS: dict[str, set[str]] = {
    "api": {
        "PHOTOCHANGER_MONGODB_URI",
        "PHOTOCHANGER_INGEST_PASSWORD",
        "PHOTOCHANGER_ADMIN_ACCOUNTS",
        "PHOTOCHANGER_JWT_SECRET",
    },
    "dispatcher": {"PHOTOCHANGER_MONGODB_URI"},
    "ttl-reaper": {"PHOTOCHANGER_MONGODB_URI"},
}
#: every service reads the media bucket's credentials
MEDIA_SECRETS = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"})


def secret_keys(service: str) -> set[str]:
    """What a service's Secret holds: a provider service its own database URI and only its
    own provider's API key."""
    if service.startswith("provider-"):
        key = f"PHOTOCHANGER_{service.removeprefix('provider-').upper()}_API_KEY"
        return {"PHOTOCHANGER_MONGODB_URI", key} | MEDIA_SECRETS
    return CORE_SECRETS[service] | MEDIA_SECRETS


#: secrets each service reads: the core services and one per provider of the catalogue
SECRETS: dict[str, set[str]] = {service: secret_keys(service) for service in SERVICES}
ALL_SECRETS = set().union(*SECRETS.values())
#: where each pod mounts its Secret (one file per key; the services read <NAME>_FILE)
SECRET_DIR = "/var/run/secrets/photochanger"
#: the address the containers listen on (all interfaces, inside their network namespace)
ALL_INTERFACES = "0.0.0.0"  # noqa: S104

#: Kubernetes version whose schemas the rendered built-in kinds are validated against
KUBERNETES_VERSION = "1.33"


# -- tools ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tool:
    name: str
    path: Path | None
    problem: str | None = None


TOOL_NAMES = ("kustomize", "promtool", "deploycheck")


def install_tool(name: str, say: Callable[[str], None] | None = None) -> Tool:
    """Run tools/deploycheck/install-tools.sh for one tool (a no-op when it is cached)."""
    if say is not None:
        say(f"installing {name} with {INSTALL_SCRIPT.relative_to(REPO)} (cached after once)")
    try:
        done = subprocess.run(
            ["bash", str(INSTALL_SCRIPT), name],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Tool(name, None, f"{INSTALL_SCRIPT.name} {name} did not run: {exc!r}")
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines or not Path(lines[-1]).is_file():
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        return Tool(name, None, f"{INSTALL_SCRIPT.name} {name} failed:\n{tail}")
    return Tool(name, Path(lines[-1]))


def run_tool(tool: Path, *args: str, cwd: Path = REPO, env: dict[str, str] | None = None,
             timeout: float = 90) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run(
        [str(tool), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )


def versions_env() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (INSTALL_SCRIPT.parent / "versions.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
    return values


# -- manifests --------------------------------------------------------------------------------


def render(kustomize: Path, target: Path) -> list[dict[str, Any]]:
    done = run_tool(kustomize, "build", str(target))
    if done.returncode != 0:
        raise AssertionError(f"kustomize build {target} failed:\n{done.stderr}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def one(docs: list[dict[str, Any]], kind: str, name_prefix: str) -> dict[str, Any]:
    found = [d for n, d in of_kind(docs, kind).items() if n.startswith(name_prefix)]
    assert len(found) == 1, f"expected one {kind} named {name_prefix}*, found {len(found)}"
    return found[0]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{deployment['metadata']['name']}: one container expected"
    return containers[0]


def env_of(c: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in c.get("env", [])}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels + matchExpressions) selects these labels."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


# -- Kafka users and what the services declare (spec/contracts/asyncapi) ---------------------


def services_of(provider_ids: tuple[str, ...]) -> tuple[str, ...]:
    """The core services and one provider service per provider id."""
    return ("api", "dispatcher", *(f"provider-{p}" for p in provider_ids), "ttl-reaper")


def consumer_groups(provider_ids: tuple[str, ...]) -> dict[str, str]:
    """The consumer group of each service that has one (the api reads without a group)."""
    return {"dispatcher": "dispatcher", **{f"provider-{p}": f"provider-{p}" for p in provider_ids}}


def declared_topics(asyncapi: Path, service: str) -> dict[str, set[str]]:
    """What a service's broker sends to and receives from, per its AsyncAPI document."""
    document = json.loads((asyncapi / f"{service}.json").read_text())
    channels = document["channels"]
    actions: dict[str, set[str]] = {"send": set(), "receive": set()}
    for operation in document["operations"].values():
        name = operation["channel"]["$ref"].rsplit("/", 1)[-1]
        actions[operation["action"]].add(channels[name]["address"])
    return actions


Acl = tuple[str, str, str, str]


def acls_of(user: dict[str, Any]) -> set[Acl]:
    """(resource type, name, pattern type, operation) of every ACL of a KafkaUser."""
    return {
        (acl["resource"]["type"], acl["resource"].get("name", ""),
         acl["resource"].get("patternType", "literal"), operation)
        for acl in user["spec"]["authorization"]["acls"]
        for operation in acl["operations"]
    }  # fmt: skip


def expected_acls(declared: dict[str, set[str]], group: str | None) -> set[Acl]:
    """Describe on the platform's topics, Write on what the service sends to, Read on what it
    receives from and on its consumer group, IdempotentWrite when it produces."""
    expected = {
        ("topic", "jobs.", "prefix", "Describe"),
        ("topic", "provider.", "prefix", "Describe"),
    }
    expected |= {("topic", t, "literal", "Write") for t in declared["send"]}
    expected |= {("topic", t, "literal", "Read") for t in declared["receive"]}
    if group and declared["receive"]:
        expected.add(("group", group, "literal", "Read"))
    if declared["send"]:
        expected.add(("cluster", "", "literal", "IdempotentWrite"))
    return expected


# -- settings ---------------------------------------------------------------------------------


@cache
def settings_env_names() -> dict[str, frozenset[str]]:
    """PHOTOCHANGER_* variables each service reads: its settings class plus the provider
    catalog overrides (PHOTOCHANGER_<PROVIDER>_<FIELD>, read by every service that loads
    configs/providers.json)."""
    from photochanger_api.settings import ApiSettings
    from photochanger_dispatcher.app import Settings as DispatcherSettings
    from photochanger_runtime.providers.catalog import ProviderConfig
    from photochanger_ttl_reaper.app import Settings as ReaperSettings

    catalog = json.loads((REPO / "configs" / "providers.json").read_text())
    overrides = {
        f"PHOTOCHANGER_{provider.upper()}_{field.upper()}"
        for provider in catalog
        for field in ProviderConfig.model_fields
        if field not in ("provider_id", "operations")
    }
    classes: dict[str, Any] = {
        "api": ApiSettings,
        "dispatcher": DispatcherSettings,
        "ttl-reaper": ReaperSettings,
        **{
            service.name: importlib.import_module(f"{service.module}.app").Settings
            for service in topology.services()
            if service.provider_id is not None
        },
    }
    from photochanger_runtime.media.s3 import S3MediaStore

    media = set(S3MediaStore.ENV_NAMES)  # every service opens the media store
    names = {
        service: {f"PHOTOCHANGER_{f.upper()}" for f in cls.model_fields} | overrides | media
        for service, cls in classes.items()
    }
    # any of them may come from a file instead (photochanger_runtime.secrets)
    return {service: frozenset(n | {f"{v}_FILE" for v in n}) for service, n in names.items()}


# -- metrics ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    name: str
    type: str
    labels: tuple[str, ...]
    documentation: str

    @property
    def samples(self) -> tuple[str, ...]:
        """Sample names a query may use (the `_created` series are not meant for queries)."""
        if self.type == "counter":
            return (f"{self.name}_total",)
        if self.type == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


@cache
def metric_families() -> dict[str, Family]:
    """Every metric defined in photochanger_runtime.observability.metrics, by family name."""
    from photochanger_runtime.observability import metrics
    from prometheus_client.metrics import MetricWrapperBase

    families: dict[str, Family] = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            (described,) = value.describe()
            families[described.name] = Family(
                name=described.name,
                type=described.type,
                labels=tuple(value._labelnames),
                documentation=described.documentation,
            )
    assert families, "photochanger_runtime.observability.metrics defines no metrics?"
    return families


@cache
def sample_names() -> dict[str, Family]:
    """Queryable sample name -> its family."""
    return {sample: fam for fam in metric_families().values() for sample in fam.samples}


#: metrics the dashboard and rules may use that the services do not export
EXTERNAL_METRICS: dict[str, tuple[str, ...]] = {
    # kafka-exporter (danielqsj/kafka_exporter; Strimzi Kafka.spec.kafkaExporter)
    "kafka_consumergroup_lag": ("consumergroup", "topic", "partition"),
    # Prometheus's own per-target health series
    "up": (),
}
#: labels Prometheus adds when it scrapes a target (the last two: the PodMonitors'
#: podTargetLabels, deploy/k8s/base/monitoring/podmonitors.yaml)
TARGET_LABELS = frozenset({"namespace", "pod", "instance", "job", "container", "service",
                           "app_kubernetes_io_name", "app_kubernetes_io_part_of"})  # fmt: skip

_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
     "unless", "offset", "inf", "nan", "start", "end"}
)  # fmt: skip
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def metric_names(expr: str) -> set[str]:
    """Names of the series a PromQL expression selects (identifiers that are neither
    functions, keywords, label names nor parts of numbers or durations)."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    names: set[str] = set()
    for match in _IDENT.finditer(text):
        token, end, start = match.group(), match.end(), match.start()
        if token in _KEYWORDS or token.startswith("$"):
            continue
        if start > 0 and (text[start - 1].isdigit() or text[start - 1] in ".$"):
            continue  # 1e3, $variable
        if text[end:].lstrip().startswith("("):
            continue  # a function or aggregation
        names.add(token)
    return names


def selectors(expr: str) -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
    """(metric name, [(label, operator, value)]) for every `name{...}` in the expression."""
    for match in _SELECTOR.finditer(expr):
        yield match.group(1), [(m[0], m[1], m[2]) for m in _MATCHER.findall(match.group(2))]


def grouping_labels(expr: str) -> set[str]:
    labels: set[str] = set()
    for match in _GROUPING.finditer(expr):
        labels |= {part.strip() for part in match.group(1).split(",") if part.strip()}
    return labels


def labels_of(name: str) -> set[str]:
    if name in EXTERNAL_METRICS:
        return set(EXTERNAL_METRICS[name])
    family = sample_names()[name]
    extra = {"le"} if name.endswith("_bucket") else set()
    return set(family.labels) | extra


# -- expressions of the dashboard and the rules -----------------------------------------------


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def dashboard_panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # collapsed rows keep their panels inside


_LABEL_VALUES = re.compile(r"label_values\(\s*(.+?)\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*\)")


def dashboard_expressions(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    found: list[tuple[str, str]] = []
    for panel in dashboard_panels(board):
        for target in panel.get("targets", []):
            if "expr" in target:
                found.append((f"panel {panel['title']!r} {target['refId']}", target["expr"]))
    for variable in board.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable["query"]
        query = query.get("query", "") if isinstance(query, dict) else query
        match = _LABEL_VALUES.fullmatch(query.strip())
        assert match, f"variable {variable['name']}: unsupported query {query!r}"
        found.append((f"variable {variable['name']}", match.group(1)))
    return found


def rule_expressions() -> list[tuple[str, str]]:
    data = yaml.safe_load(RULES.read_text())
    return [
        (f"rule {rule.get('alert') or rule.get('record')}", rule["expr"])
        for group in data["groups"]
        for rule in group["rules"]
    ]


GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "$namespace": ".*",
    "$provider": ".*",
}


def as_promql(expr: str) -> str:
    """A dashboard expression with its Grafana variables replaced by sample values."""
    for variable, value in sorted(GRAFANA_VARIABLES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(variable, value)
    return expr


def environ(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOCHANGER_")}
    env.update(extra)
    return env
