"""The security setup of every service follows from the catalogue: a provider added to
configs/providers.json gets its KafkaUser (ACLs from its AsyncAPI document), its Kafka password
and CA mounts (prod), its Secret (dev placeholders, a prod example), its MongoDB role and user,
and the other services' ACLs cover its request topic, with nothing edited under deploy/.

The same checks run on the repository and on a copy of it with one more provider."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from photochanger_contracts import topics
from photochanger_devstack import topology
from photochanger_devstack.manifests import ManifestError, write_manifests

from tests.deploy.support import (
    ASYNCAPI,
    K8S,
    REPO,
    SECRET_DIR,
    acls_of,
    consumer_groups,
    container,
    declared_topics,
    env_of,
    expected_acls,
    of_kind,
    one,
    render,
    secret_keys,
    services_of,
)

pytestmark = pytest.mark.deploy

Docs = list[dict[str, Any]]
GENERATED_ROLES = Path("deploy") / "generated" / "mongodb" / "roles.js"
CA_SECRET = "photochanger-kafka-ca"
#: the provider the copy of the repository adds (not a real one)
NEW_PROVIDER = "acme"

# mongosh's `db`, enough for createPhotochangerUsers: what it creates, as JSON on stdout
_MONGOSH_STANDIN = r"""
const fs = require("fs");
const [file, passwords] = process.argv.slice(-2);
const made = { roles: {}, users: {} };
const database = {
  getRole: () => null,
  getUser: () => null,
  createRole: (spec) => { made.roles[spec.role] = spec.privileges; },
  createUser: (spec) => { made.users[spec.user] = spec.roles; },
};
globalThis.db = { getSiblingDB: () => database };
eval(fs.readFileSync(file, "utf8") +
  "\ncreatePhotochangerUsers('photochanger', JSON.parse(passwords));");
console.log(JSON.stringify(made));
"""


def _node() -> str:
    """Node.js, to run the roles script as mongosh would (the machines have it; skipped
    without it, except under CI, where that fails)."""
    node = shutil.which("node")
    if node is None:
        message = "no node to run the MongoDB roles script (deploy/mongodb/roles.js)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return node


def _run_roles_script(script: Path, passwords: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_node(), "-e", _MONGOSH_STANDIN, str(script), json.dumps(passwords)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _example_secrets(root: Path) -> dict[str, dict[str, Any]]:
    """The example Secrets: the core services' (committed) and each provider's (generated)."""
    files = [
        root / "deploy" / "k8s" / "secret.example.yaml",
        *sorted((root / "deploy" / "generated" / "k8s" / "prod").glob("*/secret.example.yaml")),
    ]
    found: dict[str, dict[str, Any]] = {}
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                assert doc["metadata"]["name"] not in found, f"{path}: a second example"
                found[doc["metadata"]["name"]] = doc
    return found


def _secret_at(deployment: dict[str, Any], folder: str) -> dict[str, Any]:
    """The `secret` volume the container mounts at `folder` ({} when there is none)."""
    mounts = {m["mountPath"]: m["name"] for m in container(deployment).get("volumeMounts", [])}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"].get("volumes", [])}
    secret: dict[str, Any] = volumes.get(mounts.get(folder, ""), {}).get("secret", {})
    return secret


def security_problems(
    root: Path, dev: Docs, prod: Docs, provider_ids: tuple[str, ...]
) -> list[str]:
    """Everything each service of the catalogue needs to run securely, as a list of what is
    missing or wrong (empty when all is there)."""
    problems: list[str] = []
    users = of_kind(prod, "KafkaUser")
    groups = consumer_groups(provider_ids)
    ca_file = one(prod, "ConfigMap", "photochanger-config")["data"][
        "PHOTOCHANGER_KAFKA_SSL_CA_FILE"
    ]
    examples = _example_secrets(root)
    services = services_of(provider_ids)
    expected_users = {f"photochanger-{s}" for s in services} | {"photochanger-keda"}
    if set(users) != expected_users:
        problems.append(f"KafkaUsers {sorted(set(users) ^ expected_users)} (missing or extra)")
    for service in services:
        name = f"photochanger-{service}"
        # prod: its own Kafka user with exactly the ACLs its AsyncAPI document declares
        deployment = of_kind(prod, "Deployment").get(name)
        if deployment is None:
            problems.append(f"prod: no Deployment {name}")
            continue
        env = env_of(container(deployment))
        if env.get("PHOTOCHANGER_KAFKA_SASL_USERNAME", {}).get("value") != name:
            problems.append(f"{name}: not Kafka user {name}")
        if name in users:
            if users[name]["spec"]["authentication"]["type"] != "scram-sha-512":
                problems.append(f"KafkaUser {name}: not SCRAM-SHA-512")
            declared = declared_topics(root / "spec" / "contracts" / "asyncapi", service)
            acls, expected = acls_of(users[name]), expected_acls(declared, groups.get(service))
            if acls != expected:
                problems.append(f"KafkaUser {name}: ACLs differ by {sorted(acls ^ expected)}")
        # ... its password from the Secret the User Operator writes for that user, the CA, and
        # its own Secret
        folder, file = (
            env.get("PHOTOCHANGER_KAFKA_SASL_PASSWORD_FILE", {}).get("value", "/?").rsplit("/", 1)
        )
        password = _secret_at(deployment, folder)
        if password.get("secretName") != name or password.get("items") != [
            {"key": "password", "path": file}
        ]:
            problems.append(f"prod {name}: no password file from the User Operator's Secret")
        if _secret_at(deployment, ca_file.rsplit("/", 1)[0]).get("secretName") != CA_SECRET:
            problems.append(f"prod {name}: the Kafka CA is not mounted at {ca_file}")
        if _secret_at(deployment, SECRET_DIR).get("secretName") != f"{name}-secrets":
            problems.append(f"prod {name}: does not mount Secret {name}-secrets")
        # dev: a placeholder Secret with exactly its keys, mounted
        generated = [
            s for n, s in of_kind(dev, "Secret").items() if n.startswith(f"{name}-secrets-")
        ]
        if len(generated) != 1 or set(generated[0]["data"]) != secret_keys(service):
            problems.append(f"dev: no placeholder Secret {name}-secrets with its keys")
        else:
            mounted = _secret_at(of_kind(dev, "Deployment")[name], SECRET_DIR).get("secretName")
            if mounted != generated[0]["metadata"]["name"]:
                problems.append(f"dev {name}: mounts {mounted}, not its placeholder Secret")
        # prod's Secret, created out of band: an example with exactly its keys and its own
        # database user
        example = examples.get(f"{name}-secrets")
        if example is None or set(example["stringData"]) != secret_keys(service):
            problems.append(f"no example Secret {name}-secrets with its keys")
        elif f"//{name}:" not in example["stringData"]["PHOTOCHANGER_MONGODB_URI"]:
            problems.append(f"example Secret {name}-secrets: not database user {name}")
    # fallbacks: the dispatcher and every provider may hand a job to any provider
    for provider in provider_ids:
        topic = topics.provider_requests(provider)
        for service in ("dispatcher", *(f"provider-{p}" for p in provider_ids)):
            user = users.get(f"photochanger-{service}")
            if user and ("topic", topic, "literal", "Write") not in acls_of(user):
                problems.append(f"photochanger-{service} may not write {topic}")
    # MongoDB: the script to run declares the catalogue's providers
    roles = (root / GENERATED_ROLES).read_text()
    listed = re.search(r"^const PHOTOCHANGER_PROVIDERS = (.*);$", roles, re.M)
    if listed is None or json.loads(listed.group(1)) != list(provider_ids):
        problems.append(f"{GENERATED_ROLES} does not declare the providers {provider_ids}")
    return problems


def _database_users(root: Path, services: tuple[str, ...]) -> dict[str, Any]:
    done = _run_roles_script(root / GENERATED_ROLES, {s: f"password-of-{s}" for s in services})
    assert done.returncode == 0, done.stderr
    made: dict[str, Any] = json.loads(done.stdout)
    return made


# -- the repository ---------------------------------------------------------------------------


def test_every_service_has_its_kafka_user_secrets_and_mounts(rendered: dict[str, Docs]) -> None:
    problems = security_problems(REPO, rendered["dev"], rendered["prod"], topology.provider_ids())
    assert not problems, "\n".join(problems)


def test_the_database_script_creates_a_role_and_user_per_service() -> None:
    services = services_of(topology.provider_ids())
    made = _database_users(REPO, services)
    assert set(made["users"]) == {f"photochanger-{s}" for s in services}
    for service in services:
        assert made["users"][f"photochanger-{service}"] == [f"photochanger-{service}"]
    providers = [made["roles"][f"photochanger-provider-{p}"] for p in topology.provider_ids()]
    assert all(p == providers[0] for p in providers), "every provider service has one shape"
    # each privilege names this database and one collection
    for privileges in made["roles"].values():
        assert all(p["resource"]["db"] == "photochanger" for p in privileges)

    # a service without a password is refused before anything is created
    services_but_one = {s: "x" for s in services if s != services[-1]}
    done = _run_roles_script(REPO / GENERATED_ROLES, services_but_one)
    assert done.returncode != 0 and f"no password for {services[-1]}" in done.stderr


def test_the_hand_written_roles_refuse_to_run_without_the_provider_list() -> None:
    done = _run_roles_script(REPO / "deploy" / "mongodb" / "roles.js", {})
    assert done.returncode != 0 and "load deploy/generated/mongodb/roles.js" in done.stderr


# -- a copy of the repository with one more provider ----------------------------------------------


def _add_send(document: dict[str, Any], topic: str) -> None:
    key = f"{topic}:Publisher"
    document["channels"][key] = {"address": topic}
    document["operations"][key] = {"action": "send", "channel": {"$ref": f"#/channels/{key}"}}


def _copy_with_a_new_provider(target: Path, *, with_contract: bool = True) -> tuple[str, ...]:
    """What adding a provider changes outside its folder: its line in configs/providers.json and
    the regenerated AsyncAPI documents (its own; every sender to provider topics gains its
    topic). Modelled on the last provider of the catalogue."""
    shutil.copytree(REPO / "deploy", target / "deploy", ignore=shutil.ignore_patterns("generated"))
    shutil.copytree(REPO / "configs", target / "configs")
    shutil.copy(REPO / "docker-compose.yml", target / "docker-compose.yml")
    asyncapi = target / "spec" / "contracts" / "asyncapi"
    shutil.copytree(ASYNCAPI, asyncapi)

    model = topology.provider_ids()[-1]
    catalog_path = target / "configs" / "providers.json"
    catalog = json.loads(catalog_path.read_text())
    ports = [
        p for entry in catalog.values() for p in (entry["service_port"], entry["emulator_port"])
    ]
    entry = copy.deepcopy(catalog[model])
    entry.update(display_name="Acme Images", service_port=max(ports) + 1,
                 emulator_port=max(ports) + 2)  # fmt: skip
    catalog[NEW_PROVIDER] = entry
    catalog_path.write_text(json.dumps(catalog, indent=2))

    if with_contract:
        model_topic = topics.provider_requests(model)
        new_topic = topics.provider_requests(NEW_PROVIDER)
        for path in sorted(asyncapi.glob("*.json")):
            document = json.loads(path.read_text())
            if model_topic in declared_topics(asyncapi, path.stem)["send"]:
                _add_send(document, new_topic)
                path.write_text(json.dumps(document))
        own = (asyncapi / f"provider-{model}.json").read_text().replace(model, NEW_PROVIDER)
        document = json.loads(own)
        _add_send(document, model_topic)
        (asyncapi / f"provider-{NEW_PROVIDER}.json").write_text(json.dumps(document))
    return (*topology.provider_ids(), NEW_PROVIDER)


def test_a_provider_added_to_the_catalogue_gets_all_of_it(kustomize: Path, tmp_path: Path) -> None:
    provider_ids = _copy_with_a_new_provider(tmp_path)
    write_manifests(tmp_path)
    overlays = tmp_path / "deploy" / "k8s" / "overlays"
    dev, prod = render(kustomize, overlays / "dev"), render(kustomize, overlays / "prod")
    problems = security_problems(tmp_path, dev, prod, provider_ids)
    assert not problems, "\n".join(problems)
    new = f"photochanger-provider-{NEW_PROVIDER}"
    assert new in of_kind(prod, "KafkaUser") and new in of_kind(prod, "Deployment")
    services = services_of(provider_ids)
    made = _database_users(tmp_path, services)
    assert set(made["users"]) == {f"photochanger-{s}" for s in services}


def test_manifests_refuse_a_provider_without_its_contract(tmp_path: Path) -> None:
    _copy_with_a_new_provider(tmp_path, with_contract=False)
    with pytest.raises(ManifestError, match="photochanger-devstack contracts"):
        write_manifests(tmp_path)
    assert not (tmp_path / "deploy" / "generated").exists()
    assert not list((tmp_path / "deploy").glob(".generated-*"))


def test_the_overlays_include_the_generated_components() -> None:
    """The prod overlay takes the Kafka users and the providers' mounts from the generated
    component (as the base takes the providers from generated/k8s), and holds no provider's
    name itself."""
    for overlay in ("dev", "prod"):
        kustomization = yaml.safe_load(
            (K8S / "overlays" / overlay / "kustomization.yaml").read_text()
        )
        assert f"../../../generated/k8s/{overlay}" in kustomization["components"]
        for path in (K8S / "overlays" / overlay).iterdir():
            text = path.read_text()
            for provider in topology.provider_ids():
                assert f"provider-{provider}" not in text, (path, provider)
