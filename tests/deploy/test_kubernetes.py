"""deploy/k8s: both overlays render, match the Kubernetes (and CRD) schemas, and say what the
services actually need: ports, probes, settings, secrets, topics, scaling and network access."""

from __future__ import annotations

import base64
import copy
import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from photochanger_contracts import topics
from photochanger_devstack import topology
from photochanger_runtime.providers.catalog import load_catalog

from tests.deploy.support import (
    ALL_INTERFACES,
    ALL_SECRETS,
    ASYNCAPI,
    INTERNAL_PORTS,
    K8S,
    KUBERNETES_VERSION,
    OVERLAYS,
    PROVIDER_SERVICES,
    REPO,
    SCALED_CONSUMERS,
    SECRET_DIR,
    SECRETS,
    SERVICES,
    acls_of,
    consumer_groups,
    container,
    declared_topics,
    env_of,
    expected_acls,
    of_kind,
    one,
    render,
    selects,
    settings_env_names,
)

pytestmark = pytest.mark.deploy

Docs = list[dict[str, Any]]
#: API groups of custom resources: their CRDs are not in kubernetes-validate; the API server of
#: test_api_server.py checks them against the projects' own CRDs
CRD_GROUPS = {"keda.sh", "kafka.strimzi.io", "gateway.networking.k8s.io", "cert-manager.io",
              "monitoring.coreos.com"}  # fmt: skip
NAMESPACES = {"dev": "photochanger-dev", "prod": "photochanger"}


def _config_data(docs: Docs) -> dict[str, str]:
    return one(docs, "ConfigMap", "photochanger-config")["data"]


def _deployment(docs: Docs, service: str) -> dict[str, Any]:
    return of_kind(docs, "Deployment")[f"photochanger-{service}"]


def _pod_labels(docs: Docs, service: str) -> dict[str, str]:
    return _deployment(docs, service)["spec"]["template"]["metadata"]["labels"]


# -- rendering and schemas ----------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders(kustomize: Path, overlay: str) -> None:
    docs = render(kustomize, K8S / "overlays" / overlay)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "NetworkPolicy",
            "ScaledObject", "KafkaTopic", "Ingress", "HTTPRoute", "PodMonitor",
            "PrometheusRule"} <= kinds  # fmt: skip


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_builtin_kinds_match_the_kubernetes_schemas(
    rendered: dict[str, Docs], overlay: str
) -> None:
    """Strict validation (unknown fields are errors) against the Kubernetes OpenAPI schemas
    bundled in kubernetes-validate; custom resources are checked by the next test."""
    errors = []
    for doc in rendered[overlay]:
        if doc["apiVersion"].split("/")[0] in CRD_GROUPS:
            continue
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{name}: no schema for {doc['apiVersion']} in {KUBERNETES_VERSION}")
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{name}: {exc.message} at {'.'.join(map(str, exc.path))}")
    assert not errors, "\n".join(errors)


def test_the_validator_rejects_a_broken_manifest(rendered: dict[str, Docs]) -> None:
    """Control: the validation above does catch a misspelt field (custom resources: the API
    server of test_api_server.py, against the projects' own CRDs)."""
    deployment = copy.deepcopy(_deployment(rendered["dev"], "api"))
    container(deployment)["readinesProbe"] = container(deployment).pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lands_in_the_overlay_namespace(rendered: dict[str, Docs], overlay: str) -> None:
    namespace = NAMESPACES[overlay]
    for doc in rendered[overlay]:
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == namespace
            labels = doc["metadata"]["labels"]
            assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        else:
            assert doc["metadata"].get("namespace") == namespace, doc["metadata"]["name"]


# -- workloads ----------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_deployment_ports_probes_and_scrape_annotations(
    rendered: dict[str, Docs], overlay: str, service: str
) -> None:
    port = SERVICES[service]
    internal = INTERNAL_PORTS.get(service)
    deployment = _deployment(rendered[overlay], service)
    template = deployment["spec"]["template"]
    c = container(deployment)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == ({"http": port, "internal": internal} if internal else {"http": port})
    env = env_of(c)
    assert env["PHOTOCHANGER_HTTP_PORT"]["value"] == str(port)
    assert env["PHOTOCHANGER_HTTP_HOST"]["value"] == ALL_INTERFACES
    if internal:  # /metrics, /readyz and the OpenAPI pages off the public port
        assert env["PHOTOCHANGER_INTERNAL_HTTP_PORT"]["value"] == str(internal)
    operator_port = internal or port

    def probe_port(probe: dict[str, Any]) -> int:
        value = probe["httpGet"]["port"]
        return ports[value] if isinstance(value, str) else value

    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert probe_port(c["livenessProbe"]) == port
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert probe_port(c["readinessProbe"]) == operator_port
    if "startupProbe" in c:
        assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert probe_port(c["startupProbe"]) == port

    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(operator_port)
    assert annotations["prometheus.io/path"] == "/metrics"

    image = c["image"]
    assert re.fullmatch(rf"(.+/)?photochanger/{service}:[\w.-]+", image), image
    assert not image.endswith(":latest"), f"{overlay} must pin an image tag, not {image}"
    assert template["spec"]["terminationGracePeriodSeconds"] >= 30


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_pods_run_unprivileged_with_a_read_only_root(
    rendered: dict[str, Docs], overlay: str, service: str
) -> None:
    pod = _deployment(rendered[overlay], service)["spec"]["template"]["spec"]
    c = container(_deployment(rendered[overlay], service))
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert not sc["capabilities"].get("add")
    # the only writable path is an emptyDir on /tmp; secrets are read-only files
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in c.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "secret" in volume:
            assert mount.get("readOnly") is True, mount
            assert volume["secret"]["defaultMode"] & 0o007 == 0 or mount["name"] == "kafka-ca"
        else:
            assert "emptyDir" in volume, mount
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][kind]), f"{service}: {kind}"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_service_and_disruption_budget_select_the_pods(
    rendered: dict[str, Docs], overlay: str, service: str
) -> None:
    docs = rendered[overlay]
    labels = _pod_labels(docs, service)
    deployment = _deployment(docs, service)
    assert selects(deployment["spec"]["selector"], labels)

    svc = of_kind(docs, "Service")[f"photochanger-{service}"]
    assert all(labels.get(k) == v for k, v in svc["spec"]["selector"].items())
    (svc_port,) = svc["spec"]["ports"]
    assert svc_port["targetPort"] in ("http", SERVICES[service])
    # no other Deployment's pods match (selectors are specific)
    for other in SERVICES:
        if other != service:
            assert not all(
                _pod_labels(docs, other).get(k) == v for k, v in svc["spec"]["selector"].items()
            )

    pdb = of_kind(docs, "PodDisruptionBudget")[f"photochanger-{service}"]
    assert selects(pdb["spec"]["selector"], labels)
    assert "maxUnavailable" in pdb["spec"] or "minAvailable" in pdb["spec"]


# -- settings and secrets -----------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_map_holds_known_shared_settings(rendered: dict[str, Docs], overlay: str) -> None:
    data = _config_data(rendered[overlay])
    known = frozenset().union(*settings_env_names().values())
    for key in data:
        assert key in known or key.startswith("OTEL_"), f"{key} is read by no service"
    assert data["PHOTOCHANGER_KAFKA_BOOTSTRAP_SERVERS"]
    assert data["PHOTOCHANGER_PUBLIC_BASE_URL"].startswith(("https://", "http://"))
    # per-service values and secrets do not belong in the shared ConfigMap
    assert not {"PHOTOCHANGER_HTTP_PORT", "PHOTOCHANGER_HTTP_HOST"} & set(data)
    assert not ALL_SECRETS & set(data)


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_deployment_env_config_and_secret_files(
    rendered: dict[str, Docs], overlay: str, service: str
) -> None:
    docs = rendered[overlay]
    deployment = _deployment(docs, service)
    c = container(deployment)
    config_name = one(docs, "ConfigMap", "photochanger-config")["metadata"]["name"]
    assert {"configMapRef": {"name": config_name}} in c["envFrom"]

    env = env_of(c)
    for name in env:
        assert name in settings_env_names()[service], f"{service} does not read {name}"
    # secrets are mounted files of the service's own Secret, never environment values
    assert not [n for n, e in env.items() if "secretKeyRef" in e.get("valueFrom", {})]
    assert not {n for n, e in env.items() if "value" in e} & ALL_SECRETS
    files = {n.removesuffix("_FILE"): e["value"] for n, e in env.items() if n.endswith("_FILE")}
    app_secrets = {n: path for n, path in files.items() if path.startswith(SECRET_DIR + "/")}
    assert app_secrets == {n: f"{SECRET_DIR}/{n}" for n in SECRETS[service]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    secret = volumes[mounts[SECRET_DIR]]["secret"]
    assert secret["secretName"].startswith(f"photochanger-{service}-secrets")
    assert "items" not in secret  # every key of its Secret, each a file named after it


def test_dev_generates_placeholder_secrets_and_prod_none(rendered: dict[str, Docs]) -> None:
    from photochanger_runtime.secrets import is_placeholder

    secrets = of_kind(rendered["dev"], "Secret")
    assert len(secrets) == len(SERVICES)
    for service in SERVICES:
        (secret,) = [
            s for n, s in secrets.items() if n.startswith(f"photochanger-{service}-secrets-")
        ]
        assert set(secret["data"]) == SECRETS[service], service
        mounted = {
            v["secret"]["secretName"]
            for v in _deployment(rendered["dev"], service)["spec"]["template"]["spec"]["volumes"]
            if "secret" in v
        }
        assert mounted == {secret["metadata"]["name"]}
        values = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        for key, text in values.items():
            if key == "PHOTOCHANGER_ADMIN_ACCOUNTS":
                assert json.loads(text) == [], "no admin account in the repository"
            elif key != "PHOTOCHANGER_MONGODB_URI":
                assert "placeholder" in text and is_placeholder(text), key
            assert "@" not in text, f"{key}: no credentials in the dev placeholder"
        if "PHOTOCHANGER_JWT_SECRET" in values:  # the api refuses keys shorter than 32 bytes
            assert len(values["PHOTOCHANGER_JWT_SECRET"].encode()) >= 32
    # prod: the Secrets are created out of band, never rendered from the repository
    assert not of_kind(rendered["prod"], "Secret")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_environment_and_the_api_trusted_proxies(rendered: dict[str, Docs], overlay: str) -> None:
    """prod runs with PHOTOCHANGER_ENVIRONMENT=prod (placeholders refused at start); the api
    believes X-Forwarded-For from the ingress only, and the Service exposes only its public
    port."""
    from photochanger_api.settings import ApiSettings

    docs = rendered[overlay]
    assert _config_data(docs)["PHOTOCHANGER_ENVIRONMENT"] == overlay
    env = env_of(container(_deployment(docs, "api")))
    proxies = ApiSettings.model_validate(
        {"trusted_proxies": env["PHOTOCHANGER_TRUSTED_PROXIES"]["value"]}
    ).trusted_proxies
    assert proxies and all(net.is_private and net.prefixlen >= 24 for net in proxies)
    (port,) = of_kind(docs, "Service")["photochanger-api"]["spec"]["ports"]
    assert port["targetPort"] == "http"


# -- autoscaling --------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_scales_on_waiting_requests_and_busy_upload_slots(
    rendered: dict[str, Docs], overlay: str
) -> None:
    """KEDA, from Prometheus: the gauges of what limits the api, of this namespace only."""
    docs = rendered[overlay]
    scaled = of_kind(docs, "ScaledObject")["photochanger-api"]
    assert scaled["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": "photochanger-api",
    }  # fmt: skip
    queries = {t["metadata"]["query"] for t in scaled["spec"]["triggers"]}
    assert {t["type"] for t in scaled["spec"]["triggers"]} == {"prometheus"}
    namespace = NAMESPACES[overlay]
    assert queries == {
        f'sum(photochanger_ingest_waiting_requests{{namespace="{namespace}"}})',
        f'sum(photochanger_ingest_uploads_in_flight{{namespace="{namespace}"}})',
    }
    from photochanger_api.settings import ApiSettings

    (uploads,) = [t for t in scaled["spec"]["triggers"] if "uploads" in t["metadata"]["query"]]
    # out before the slots run out
    assert (
        int(uploads["metadata"]["threshold"]) < ApiSettings.model_construct().max_concurrent_uploads
    )
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]
    assert not of_kind(docs, "HorizontalPodAutoscaler"), "KEDA makes the HPA"
    # the autoscaler owns the replica count
    assert "replicas" not in _deployment(docs, "api")["spec"]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SCALED_CONSUMERS)
def test_consumers_scale_on_their_kafka_lag(
    rendered: dict[str, Docs], overlay: str, service: str
) -> None:
    docs = rendered[overlay]
    group, topic = SCALED_CONSUMERS[service]
    scaled = of_kind(docs, "ScaledObject")[f"photochanger-{service}"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == f"photochanger-{service}"
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    meta = trigger["metadata"]
    assert meta["consumerGroup"] == group
    assert meta["topic"] == topic
    assert meta["bootstrapServers"] == _config_data(docs)["PHOTOCHANGER_KAFKA_BOOTSTRAP_SERVERS"]
    assert int(meta["lagThreshold"]) > 0
    partitions = int(_config_data(docs)["PHOTOCHANGER_KAFKA_TOPIC_PARTITIONS"])
    spec = scaled["spec"]
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= partitions
    assert "replicas" not in _deployment(docs, service)["spec"]
    assert not [
        h for h in of_kind(docs, "HorizontalPodAutoscaler").values()
        if h["spec"]["scaleTargetRef"]["name"] == f"photochanger-{service}"
    ], "KEDA creates the HPA of a scaled Deployment; a second one would fight it"  # fmt: skip


def test_topic_names_match_the_provider_topic_function() -> None:
    for service, (group, topic) in SCALED_CONSUMERS.items():
        if service in PROVIDER_SERVICES:
            provider = service.removeprefix("provider-")
            assert topic == topics.provider_requests(provider)
            assert group == f"provider-{provider}"
    assert SCALED_CONSUMERS["dispatcher"][1] == topics.JOBS_CREATED


# -- Kafka topics -------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_topics_match_the_contracts_and_the_config(
    rendered: dict[str, Docs], overlay: str
) -> None:
    docs = rendered[overlay]
    data = _config_data(docs)
    catalog = load_catalog(REPO / "configs" / "providers.json", environ={})
    declared = {t["spec"]["topicName"]: t for t in of_kind(docs, "KafkaTopic").values()}
    assert set(declared) == set(topics.all_topics(catalog.ids()))
    for name, topic in declared.items():
        spec = topic["spec"]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"]
        assert spec["partitions"] == int(data["PHOTOCHANGER_KAFKA_TOPIC_PARTITIONS"]), name
        assert spec["replicas"] == int(data["PHOTOCHANGER_KAFKA_REPLICATION_FACTOR"]), name
        retention_hours = int(spec["config"]["retention.ms"]) / 3_600_000
        assert retention_hours == (7 * 24 if name == topics.DEAD_LETTER else 24), name
        if spec["replicas"] > 1:
            assert 1 < int(spec["config"]["min.insync.replicas"]) < spec["replicas"]


def test_prod_is_replicated_and_bigger_than_dev(rendered: dict[str, Docs]) -> None:
    dev, prod = rendered["dev"], rendered["prod"]
    assert _config_data(prod)["PHOTOCHANGER_KAFKA_REPLICATION_FACTOR"] == "3"

    def api_min(docs: Docs) -> int:
        return int(of_kind(docs, "ScaledObject")["photochanger-api"]["spec"]["minReplicaCount"])

    assert api_min(prod) > api_min(dev) and api_min(prod) >= 2
    for name, scaled in of_kind(prod, "ScaledObject").items():
        dev_scaled = of_kind(dev, "ScaledObject")[name]
        assert scaled["spec"]["maxReplicaCount"] > dev_scaled["spec"]["maxReplicaCount"]
        assert scaled["spec"]["minReplicaCount"] >= 2
    assert _deployment(prod, "ttl-reaper")["spec"]["replicas"] >= 2

    def memory_mib(docs: Docs, service: str) -> float:
        value = container(_deployment(docs, service))["resources"]["limits"]["memory"]
        number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", value).groups()  # type: ignore[union-attr]
        return int(number) * (1024 if unit == "Gi" else 1)

    for service in SERVICES:
        assert memory_mib(prod, service) > memory_mib(dev, service), service


# -- network policies ---------------------------------------------------------------------------


def _policies_for(docs: Docs, service: str, policy_type: str) -> list[dict[str, Any]]:
    labels = _pod_labels(docs, service)
    return [
        p for p in of_kind(docs, "NetworkPolicy").values()
        if policy_type in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], labels)
    ]  # fmt: skip


def _rules(policies: list[dict[str, Any]], direction: str) -> list[dict[str, Any]]:
    return [rule for p in policies for rule in p["spec"].get(direction, [])]


def _ports(rule: dict[str, Any]) -> set[int]:
    return {p["port"] for p in rule.get("ports", [])}


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_network_policies(rendered: dict[str, Docs], overlay: str, service: str) -> None:
    docs = rendered[overlay]
    port = SERVICES[service]
    ingress_policies = _policies_for(docs, service, "Ingress")
    egress_policies = _policies_for(docs, service, "Egress")
    # default deny: some policy selects the pod for both directions
    assert ingress_policies and egress_policies

    ingress = _rules(ingress_policies, "ingress")
    assert ingress, f"{service} accepts no traffic at all"
    monitoring = [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "monitoring"}}}]  # fmt: skip
    operator_port = INTERNAL_PORTS.get(service, port)
    edge = [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
    }]  # fmt: skip
    for rule in ingress:
        if service == "api" and _ports(rule) == {port}:
            assert rule["from"] == edge, "the api's public port: the ingress controller only"
        else:  # metrics (and readiness): Prometheus only
            assert _ports(rule) == {operator_port}, f"{service}: ingress only on its ports"
            assert rule["from"] == monitoring
    # egress: tests/deploy/test_network_policies.py (derived from each service's settings)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_network_policy_selects_some_pods(rendered: dict[str, Docs], overlay: str) -> None:
    docs = rendered[overlay]
    pod_labels = [_pod_labels(docs, s) for s in SERVICES]
    for name, policy in of_kind(docs, "NetworkPolicy").items():
        assert any(selects(policy["spec"]["podSelector"], labels) for labels in pod_labels), name


# -- Kafka over SASL/SCRAM and TLS (prod) -------------------------------------------------------


def test_prod_talks_to_kafka_with_a_scram_user_per_service_over_tls(
    rendered: dict[str, Docs],
) -> None:
    from photochanger_runtime.config import ServiceSettings

    docs = rendered["prod"]
    data = _config_data(docs)
    settings = ServiceSettings.model_validate(
        {k.removeprefix("PHOTOCHANGER_").lower(): v for k, v in data.items()
         if k.startswith("PHOTOCHANGER_KAFKA_")}
        | {"kafka_sasl_username": "x", "kafka_sasl_password": "y"}
    )  # fmt: skip
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert settings.kafka_sasl_mechanism == "SCRAM-SHA-512"
    assert data["PHOTOCHANGER_KAFKA_BOOTSTRAP_SERVERS"].endswith(":9093")  # the TLS listener
    users = of_kind(docs, "KafkaUser")
    for service in SERVICES:
        deployment = _deployment(docs, service)
        c = container(deployment)
        env = env_of(c)
        user = env["PHOTOCHANGER_KAFKA_SASL_USERNAME"]["value"]
        assert user == f"photochanger-{service}" and user in users
        assert users[user]["spec"]["authentication"]["type"] == "scram-sha-512"
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        password = env["PHOTOCHANGER_KAFKA_SASL_PASSWORD_FILE"]["value"]
        folder, file = password.rsplit("/", 1)
        secret = volumes[mounts[folder]]["secret"]
        # the Secret the Strimzi User Operator writes for the user, key `password`
        assert secret["secretName"] == user and secret["items"] == [
            {"key": "password", "path": file}
        ]
        ca_folder, ca_file = data["PHOTOCHANGER_KAFKA_SSL_CA_FILE"].rsplit("/", 1)
        ca = volumes[mounts[ca_folder]]["secret"]
        assert ca["secretName"] == "photochanger-kafka-ca" and ca_file in {
            i["path"] for i in ca["items"]
        }
    # KEDA reads the lag over the same listener, as a describe-only user
    (auth,) = of_kind(docs, "TriggerAuthentication").values()
    refs = {r["parameter"]: r for r in auth["spec"]["secretTargetRef"]}
    assert set(refs) == {"username", "password", "ca"}
    assert refs["password"]["name"] == "photochanger-keda" and "photochanger-keda" in users
    assert {op for *_, op in acls_of(users["photochanger-keda"])} == {"Describe"}
    for scaled in of_kind(docs, "ScaledObject").values():
        if scaled["metadata"]["name"] == "photochanger-api":
            continue  # scales on Prometheus, not on Kafka
        (trigger,) = scaled["spec"]["triggers"]
        assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
        assert (
            trigger["metadata"]["sasl"] == "scram_sha512" and trigger["metadata"]["tls"] == "enable"
        )
    # dev stays plaintext, but every Deployment already names its user
    dev = _config_data(rendered["dev"])
    assert dev.get("PHOTOCHANGER_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT") == "PLAINTEXT"


def test_each_kafka_user_may_do_exactly_what_its_service_declares(
    rendered: dict[str, Docs],
) -> None:
    users = of_kind(rendered["prod"], "KafkaUser")
    groups = consumer_groups(topology.provider_ids())
    assert set(users) == {f"photochanger-{s}" for s in SERVICES} | {"photochanger-keda"}
    for service in SERVICES:
        acls = acls_of(users[f"photochanger-{service}"])
        declared = declared_topics(ASYNCAPI, service)
        expected = expected_acls(declared, groups.get(service))
        assert acls == expected, (service, acls ^ expected)
        if service in groups:  # the scaled consumers read with the group KEDA watches
            assert groups[service] == SCALED_CONSUMERS[service][0]


def test_jobs_can_be_handed_to_every_provider(rendered: dict[str, Docs]) -> None:
    """From the catalogue, not the AsyncAPI documents (which could be stale): the dispatcher
    and every provider (fallbacks) may write every provider's request topic; only its own
    provider service reads one."""
    users = of_kind(rendered["prod"], "KafkaUser")
    for provider in topology.provider_ids():
        topic = topics.provider_requests(provider)
        for service in ("dispatcher", *PROVIDER_SERVICES):
            assert ("topic", topic, "literal", "Write") in acls_of(
                users[f"photochanger-{service}"]
            ), (service, topic)
        readers = {
            name for name, user in users.items()
            if ("topic", topic, "literal", "Read") in acls_of(user)
        }  # fmt: skip
        assert readers == {f"photochanger-provider-{provider}"}


def test_every_collection_the_code_uses_has_a_database_role() -> None:
    """deploy/mongodb/roles.js grants each service's user only its collections; every
    collection the code names must be granted to someone (or a service would fail). The core
    services have a role each, the provider services one shared shape (the generated file
    declares which providers; tests/deploy/test_security_manifests.py runs it)."""
    import re as regex

    roles = (REPO / "deploy" / "mongodb" / "roles.js").read_text()
    granted = set(regex.findall(r"\b([a-z_]+): (?:RW|READ|\[)", roles))
    named: set[str] = set()
    for path in [*REPO.glob("libs/*/src/**/*.py"), *REPO.glob("services/*/src/**/*.py")]:
        text = path.read_text()
        named |= set(regex.findall(r'db\["([a-z_]+)"\]', text))
        named |= set(
            regex.findall(r'^(?:LIVE|FINAL|CLAIMS|WORKERS|LOGS) = "([a-z_]+)"', text, regex.M)
        )
    assert named, "no collection found in the code?"
    assert named <= granted, sorted(named - granted)
    for service in SERVICES:
        if service not in PROVIDER_SERVICES:
            assert f'"{service}": {{' in roles or f"  {service}: {{" in roles, service
    assert "const PHOTOCHANGER_PROVIDER_ROLE = {" in roles


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_kafka_name_carries_the_configured_prefix(
    rendered: dict[str, Docs], overlay: str
) -> None:
    """PHOTOCHANGER_KAFKA_NAME_PREFIX (what the services put before every topic and group)
    and the manifests agree: topics, KEDA's lag triggers, the Kafka users' ACLs."""
    docs = rendered[overlay]
    prefix = _config_data(docs)["PHOTOCHANGER_KAFKA_NAME_PREFIX"]
    provider_ids = topology.provider_ids()
    expected = {prefix + name for name in topics.all_topics(provider_ids)}
    assert {t["spec"]["topicName"] for t in of_kind(docs, "KafkaTopic").values()} == expected
    for scaled in of_kind(docs, "ScaledObject").values():
        for trigger in scaled["spec"]["triggers"]:
            if trigger["type"] == "kafka":
                meta = trigger["metadata"]
                assert meta["topic"] in expected
                assert meta["consumerGroup"].startswith(prefix)
    for user in of_kind(docs, "KafkaUser").values():
        for acl in user["spec"]["authorization"]["acls"]:
            if acl["resource"]["type"] in ("topic", "group"):
                assert acl["resource"]["name"].startswith(prefix), user["metadata"]["name"]
