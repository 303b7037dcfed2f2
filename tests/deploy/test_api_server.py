"""Both overlays, custom kinds included, pass a server-side dry-run on a real Kubernetes API
server (kube-apiserver 1.32 over etcd, photochanger_devstack.kubeapi) with the projects' own
CRDs installed (photochanger_devstack.crds), in a namespace that enforces the `restricted` Pod
Security Standard: no error and no warning. Nothing is scheduled (there is no kubelet)."""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.deploy.support import OVERLAYS

# starting etcd and the API server and installing the CRDs counts into the first test
pytestmark = [pytest.mark.deploy, pytest.mark.timeout(600)]

Docs = list[dict[str, Any]]
MANAGER = "photochanger-tests"
RESTRICTED = "pod-security.kubernetes.io/enforce"


class Cluster:
    """A thin client: discovery, server-side apply with dryRun=All, and the warnings."""

    def __init__(self, url: str, token: str) -> None:
        # a throwaway self-signed certificate of a server on loopback
        self.http = httpx.Client(
            base_url=url,
            verify=False,  # noqa: S501
            timeout=30,
            headers={"Authorization": f"Bearer {token}"},
        )
        self._resources: dict[tuple[str, str], tuple[str, bool]] = {}

    def _discover(self, api_version: str) -> None:
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        answer = self.http.get(base)
        answer.raise_for_status()
        for resource in answer.json()["resources"]:
            if "/" not in resource["name"]:
                key = (api_version, resource["kind"])
                self._resources[key] = (f"{base}/{resource['name']}", resource["namespaced"])

    def path(self, doc: dict[str, Any], namespace: str | None = None) -> str:
        key = (doc["apiVersion"], doc["kind"])
        if key not in self._resources:
            self._discover(doc["apiVersion"])
        if key not in self._resources:
            raise AssertionError(f"the API server serves no {key}")
        collection, namespaced = self._resources[key]
        if namespaced:
            ns = namespace or doc["metadata"].get("namespace", "default")
            api, resource = collection.rsplit("/", 1)
            collection = f"{api}/namespaces/{ns}/{resource}"
        return f"{collection}/{doc['metadata']['name']}"

    def apply(self, doc: dict[str, Any], *, dry_run: bool) -> httpx.Response:
        # Strict: an unknown or duplicate field is an error, as with kubectl apply
        params = {"fieldManager": MANAGER, "force": "true", "fieldValidation": "Strict"}
        if dry_run:
            params["dryRun"] = "All"
        return self.http.patch(
            self.path(doc),
            params=params,
            content=json.dumps(doc),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )

    def serves(self, api_version: str, kind: str) -> bool:
        try:
            self._discover(api_version)
        except httpx.HTTPStatusError:
            return False
        return (api_version, kind) in self._resources


def _warnings(answer: httpx.Response) -> list[str]:
    return answer.headers.get_list("warning")


def _install_crds(cluster: Cluster, folder: Path) -> list[tuple[str, str]]:
    kinds = []
    for path in sorted(folder.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            answer = cluster.apply(crd, dry_run=False)
            assert answer.status_code < 300, f"{path.name}: {answer.text[:500]}"
            group = crd["spec"]["group"]
            kind = crd["spec"]["names"]["kind"]
            kinds += [
                (f"{group}/{v['name']}", kind) for v in crd["spec"]["versions"] if v["served"]
            ]
    deadline = time.monotonic() + 60
    pending = list(kinds)
    while pending and time.monotonic() < deadline:
        pending = [k for k in pending if not cluster.serves(*k)]
        if pending:
            time.sleep(0.5)  # polling the server until it serves them, bounded by the deadline
    assert not pending, f"the API server never served {pending}"
    return kinds


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from photochanger_devstack import crds, kubeapi
    from photochanger_devstack.errors import DevstackError

    state = tmp_path_factory.mktemp("kube")
    try:
        server = kubeapi.start(state, state / "logs")
    except DevstackError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no Kubernetes API server here: {exc}")
    try:
        client = Cluster(server.url, server.token)
        _install_crds(client, crds.ensure_installed())
        yield client
    finally:
        server.stop()


def _namespace(docs: Docs) -> dict[str, Any]:
    (namespace,) = [d for d in docs if d["kind"] == "Namespace"]
    return namespace


@pytest.fixture(scope="session")
def namespaces(cluster: Cluster, rendered: dict[str, Docs]) -> dict[str, str]:
    """Each overlay's Namespace, created for real (a dry-run cannot put objects into a
    namespace that does not exist), with its Pod Security labels."""
    names = {}
    for overlay in OVERLAYS:
        namespace = _namespace(rendered[overlay])
        answer = cluster.apply(namespace, dry_run=False)
        assert answer.status_code < 300, answer.text
        names[overlay] = namespace["metadata"]["name"]
    return names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_overlay_passes_a_server_side_dry_run_without_warnings(
    cluster: Cluster, namespaces: dict[str, str], rendered: dict[str, Docs], overlay: str
) -> None:
    docs = rendered[overlay]
    namespace = cluster.http.get(f"/api/v1/namespaces/{namespaces[overlay]}").json()
    assert namespace["metadata"]["labels"][RESTRICTED] == "restricted"
    problems = []
    for doc in docs:
        answer = cluster.apply(doc, dry_run=True)
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if answer.status_code >= 300:
            problems.append(f"{name}: {answer.status_code} {answer.json().get('message')}")
        problems += [f"{name}: warning: {w}" for w in _warnings(answer)]
    assert not problems, "\n".join(problems)
    kinds = {(d["apiVersion"], d["kind"]) for d in docs}
    assert {("kafka.strimzi.io/v1", "KafkaTopic"), ("keda.sh/v1alpha1", "ScaledObject"),
            ("gateway.networking.k8s.io/v1", "HTTPRoute"), ("cert-manager.io/v1", "Certificate"),
            ("networking.k8s.io/v1", "Ingress")} <= kinds  # fmt: skip


def test_the_dry_run_reports_what_restricted_forbids_and_what_a_crd_refuses(
    cluster: Cluster, namespaces: dict[str, str], rendered: dict[str, Docs]
) -> None:
    """Controls: a container that may escalate and adds a capability draws a Pod Security
    warning, a misspelt field of a Strimzi topic an error (so a clean run above means something)."""
    docs = rendered["prod"]
    deployment = copy.deepcopy(next(d for d in docs if d["kind"] == "Deployment"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"].update(
        allowPrivilegeEscalation=True, capabilities={"add": ["NET_ADMIN"]}
    )
    answer = cluster.apply(deployment, dry_run=True)
    assert answer.status_code < 300, answer.text
    assert any("restricted" in w for w in _warnings(answer)), _warnings(answer)

    topic = copy.deepcopy(next(d for d in docs if d["kind"] == "KafkaTopic"))
    topic["spec"]["partition"] = topic["spec"].pop("partitions")  # misspelt
    answer = cluster.apply(topic, dry_run=True)
    # (server-side apply refuses a field the CRD's schema does not declare)
    assert answer.status_code >= 400, answer.text
    assert "spec.partition: field not declared in schema" in answer.json()["message"]
