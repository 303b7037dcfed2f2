"""Where each service's configuration says it connects, and whether the rendered NetworkPolicies
let it: every destination allowed, and no egress rule that no destination needs.

A destination comes from the settings a pod sees (ConfigMap `photochanger-config`, its own
`env`, its Secret: the dev overlay's generated one, prod's `secret.example.yaml`) and the
provider catalogue. An in-cluster address `<service>.<namespace>.svc[.cluster.local]` must be
allowed by a peer naming that namespace; any other host is a public address, which only an
`ipBlock` of the whole Internet (private ranges excepted) allows.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml

from tests.deploy.support import REPO, container, env_of, of_kind, one, selects

Docs = list[dict[str, Any]]
NAMESPACE_LABEL = "kubernetes.io/metadata.name"
DNS = ("kube-system", 53)
#: the private and link-local ranges a public-Internet ipBlock must leave out
PRIVATE = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"}


@dataclass(frozen=True)
class Destination:
    what: str
    host: str
    port: int
    #: the namespace of an in-cluster Service; None for a public address
    namespace: str | None

    def __str__(self) -> str:
        where = f"namespace {self.namespace}" if self.namespace else "the Internet"
        return f"{self.what} {self.host}:{self.port} ({where})"


def _destination(what: str, host: str, port: int) -> Destination:
    parts = host.split(".")
    in_cluster = len(parts) >= 3 and (
        parts[2:] == ["svc"] or parts[2:] == ["svc", "cluster", "local"]
    )
    return Destination(what, host, port, parts[1] if in_cluster else None)


def _url(what: str, url: str, default_port: int) -> Destination:
    parts = urlsplit(url if "://" in url else f"//{url}")
    assert parts.hostname, f"{what}: no host in {url!r}"
    return _destination(what, parts.hostname, parts.port or default_port)


# -- what a service's configuration names ----------------------------------------------------------


def _secret_values(docs: Docs, service: str) -> dict[str, str]:
    name = f"photochanger-{service}-secrets"
    for doc in docs:
        if doc["kind"] == "Secret" and doc["metadata"]["name"].startswith(name):
            return {k: base64.b64decode(v).decode() for k, v in doc.get("data", {}).items()}
    # prod: created out of band; the committed examples show their shape
    examples = [REPO / "deploy" / "k8s" / "secret.example.yaml"]
    examples += sorted(
        (REPO / "deploy" / "generated" / "k8s" / "prod").glob("*/secret.example.yaml")
    )
    for path in examples:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["metadata"]["name"] == name:
                return dict(doc.get("stringData", {}))
    raise AssertionError(f"no Secret or example of {name}")


def settings(docs: Docs, service: str) -> dict[str, str]:
    """The variables a service's pod starts with (ConfigMap, its env, its Secret's keys)."""
    values = dict(one(docs, "ConfigMap", "photochanger-config")["data"])
    deployment = of_kind(docs, "Deployment")[f"photochanger-{service}"]
    for name, entry in env_of(container(deployment)).items():
        if "value" in entry:
            values[name] = entry["value"]
    values.update(_secret_values(docs, service))
    return values


def destinations(values: dict[str, str], service: str) -> list[Destination]:
    """Every address a service with these settings connects to."""
    from photochanger_runtime.providers.catalog import load_catalog

    found = [Destination("DNS", "kube-dns.kube-system.svc", 53, "kube-system")]
    for server in values["PHOTOCHANGER_KAFKA_BOOTSTRAP_SERVERS"].split(","):
        found.append(_url("Kafka", server.strip(), 9092))
    mongodb = values["PHOTOCHANGER_MONGODB_URI"]
    hosts = mongodb.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    for host in hosts.split(","):
        found.append(_url("MongoDB", host, 27017))
    media = values["PHOTOCHANGER_MEDIA_URL"]
    if media.startswith("s3://"):
        endpoint = values.get("AWS_ENDPOINT_URL_S3") or values.get("AWS_ENDPOINT_URL")
        region = values.get("AWS_REGION", "us-east-1")
        if endpoint:
            http = endpoint.startswith("http://")
            found.append(_url("media store", endpoint, 80 if http else 443))
        else:
            found.append(_destination("media store", f"s3.{region}.amazonaws.com", 443))
            # web-identity credentials (IRSA) are exchanged at the regional STS endpoint
            found.append(_destination("STS", f"sts.{region}.amazonaws.com", 443))
    if values.get("OTEL_TRACES_EXPORTER", "none") == "otlp":
        endpoint = values.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318")
        found.append(_url("OTLP", endpoint, 4318))
    if service == "api":
        # client webhooks (ADR-0016): https to public addresses only (the SSRF guard)
        found.append(Destination("webhook receivers", "any public host", 443, None))
    if service.startswith("provider-"):
        provider_id = service.removeprefix("provider-")
        # the catalogue's overrides (PHOTOCHANGER_<PROVIDER>_BASE_URL, ...); *_FILE variables
        # name files inside the pod
        prefix = f"PHOTOCHANGER_{provider_id.upper()}_"
        environ = {
            k: v for k, v in values.items() if k.startswith(prefix) and not k.endswith("_FILE")
        }
        config = load_catalog(REPO / "configs" / "providers.json", environ=environ).get(provider_id)
        assert config is not None
        found.append(_url(f"{provider_id} API", config.base_url, 443))
        for host in config.result_hosts:
            found.append(_destination(f"{provider_id} results", host.removeprefix("*."), 443))
    return found


# -- what the policies allow ---------------------------------------------------------------------


@dataclass(frozen=True)
class Allowance:
    """One peer of one egress rule, on its ports (None: every port)."""

    policy: str
    peer: dict[str, Any]
    ports: frozenset[int] | None

    def __str__(self) -> str:
        ports = "all ports" if self.ports is None else sorted(self.ports)
        return f"{self.policy}: {self.peer} on {ports}"


def _is_internet(block: dict[str, Any]) -> bool:
    if block["cidr"] == "::/0":
        return True
    return block["cidr"] == "0.0.0.0/0" and set(block.get("except", [])) >= PRIVATE


def _peer_allows(peer: dict[str, Any], destination: Destination) -> bool:
    if "ipBlock" in peer:
        return destination.namespace is None and _is_internet(peer["ipBlock"])
    if destination.namespace is None or "namespaceSelector" not in peer:
        return False
    return selects(peer["namespaceSelector"], {NAMESPACE_LABEL: destination.namespace})


def allowances(docs: Docs, service: str) -> list[Allowance]:
    deployment = of_kind(docs, "Deployment")[f"photochanger-{service}"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    found = []
    for name, policy in of_kind(docs, "NetworkPolicy").items():
        spec = policy["spec"]
        if "Egress" not in spec["policyTypes"] or not selects(spec["podSelector"], labels):
            continue
        for rule in spec.get("egress", []):
            ports = rule.get("ports")
            numbers = None if not ports else frozenset(int(p["port"]) for p in ports)
            for peer in rule.get("to", [{"ipBlock": {"cidr": "0.0.0.0/0"}}]):
                found.append(Allowance(name, peer, numbers))
    return found


def problems(docs: Docs, service: str, values: dict[str, str] | None = None) -> list[str]:
    """What is wrong with a service's egress: a destination its policies block, or a peer and
    port that none of its destinations needs."""
    wanted = destinations(values if values is not None else settings(docs, service), service)
    allowed = allowances(docs, service)

    def allows(a: Allowance, d: Destination) -> bool:
        return (a.ports is None or d.port in a.ports) and _peer_allows(a.peer, d)

    found = [f"{service}: {d} is blocked" for d in wanted if not any(allows(a, d) for a in allowed)]
    for allowance in allowed:
        ports: list[int | None] = sorted(allowance.ports) if allowance.ports else [None]
        for port in ports:
            if not any(
                (port is None or d.port == port) and _peer_allows(allowance.peer, d) for d in wanted
            ):
                found.append(f"{service}: {allowance} (port {port}) is needed by nothing")
    return found
