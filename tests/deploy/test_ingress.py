"""The way in: an Ingress (ingress-nginx) and a Gateway API HTTPRoute for the api whose limits
let a camera photo through (body size, read and body timeouts derived from the api's own
settings and the longest sync deadline), TLS through cert-manager, the console on its own host,
and X-Forwarded-For believed from the ingress controller only."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from photochanger_contracts.deadlines import SYNC_RESPONSE_MAX_SECONDS

from tests.deploy.support import OVERLAYS, container, env_of, of_kind

pytestmark = pytest.mark.deploy

Docs = list[dict[str, Any]]
NGINX = "nginx.ingress.kubernetes.io/"


def _api_settings() -> Any:
    from photochanger_api.settings import ApiSettings

    return ApiSettings.model_construct()


def _bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", size.lower()).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]


def _seconds(value: str) -> float:
    return float(value.removesuffix("s"))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_public_ingress_lets_a_camera_photo_through(
    rendered: dict[str, Docs], overlay: str
) -> None:
    settings = _api_settings()
    ingress = of_kind(rendered[overlay], "Ingress")["photochanger-api"]
    notes = ingress["metadata"]["annotations"]
    longest = settings.ingest_body_seconds + SYNC_RESPONSE_MAX_SECONDS
    assert _bytes(notes[NGINX + "proxy-body-size"]) >= settings.max_request_bytes >= 21 * 1024**2
    assert _seconds(notes[NGINX + "proxy-read-timeout"]) >= longest >= 100
    assert _seconds(notes[NGINX + "client-body-timeout"]) == settings.ingest_body_seconds
    assert notes[NGINX + "proxy-request-buffering"] == "off"
    assert notes["cert-manager.io/cluster-issuer"]
    paths = {p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}
    assert paths == {"/ingest/", "/api/ingest/", "/public/", "/v1/"}, "no console or admin API"
    assert notes[NGINX + "proxy-buffering"] == "off", "server-sent events pass at once"
    assert ingress["spec"]["tls"][0]["hosts"] == [r["host"] for r in ingress["spec"]["rules"]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_console_has_its_own_host_and_allow_list(
    rendered: dict[str, Docs], overlay: str
) -> None:
    ingresses = of_kind(rendered[overlay], "Ingress")
    admin, public = ingresses["photochanger-admin"], ingresses["photochanger-api"]
    assert admin["metadata"]["annotations"][NGINX + "whitelist-source-range"]
    admin_hosts = {r["host"] for r in admin["spec"]["rules"]}
    assert admin_hosts.isdisjoint({r["host"] for r in public["spec"]["rules"]})


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_http_route_carries_the_upload_timeouts(
    rendered: dict[str, Docs], overlay: str
) -> None:
    settings = _api_settings()
    routes = of_kind(rendered[overlay], "HTTPRoute")
    assert set(routes) == {"photochanger-api", "photochanger-admin"}
    for route in routes.values():
        for rule in route["spec"]["rules"]:
            timeouts = rule["timeouts"]
            longest = settings.ingest_body_seconds + SYNC_RESPONSE_MAX_SECONDS
            assert _seconds(timeouts["request"]) >= longest
            assert [b["name"] for b in rule["backendRefs"]] == ["photochanger-api"]
    certificate = of_kind(rendered[overlay], "Certificate")["photochanger-gateway-tls"]
    hostnames = {h for route in routes.values() for h in route["spec"]["hostnames"]}
    assert set(certificate["spec"]["dnsNames"]) == hostnames


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_forwarded_addresses_are_believed_from_the_ingress_controller_only(
    rendered: dict[str, Docs], overlay: str
) -> None:
    """The api's public port takes connections from the controller's pods only, and the
    trusted range is the controller's, no wider than a /24 (never the pod network)."""
    from photochanger_api.settings import ApiSettings

    docs = rendered[overlay]
    env = env_of(container(of_kind(docs, "Deployment")["photochanger-api"]))
    proxies = ApiSettings.model_validate(
        {"trusted_proxies": env["PHOTOCHANGER_TRUSTED_PROXIES"]["value"]}
    ).trusted_proxies
    assert proxies and all(net.is_private and net.prefixlen >= 24 for net in proxies)
    policy = of_kind(docs, "NetworkPolicy")["photochanger-api-ingress"]
    public = [r for r in policy["spec"]["ingress"] if {p["port"] for p in r["ports"]} == {8000}]
    (rule,) = public
    assert [peer["namespaceSelector"]["matchLabels"] for peer in rule["from"]] == [
        {"kubernetes.io/metadata.name": "ingress-nginx"}
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_hosts_are_those_of_the_public_base_url(
    rendered: dict[str, Docs], overlay: str
) -> None:
    docs = rendered[overlay]
    (config,) = [d for d in docs if d["kind"] == "ConfigMap" and "PHOTOCHANGER_PUBLIC_BASE_URL"
                 in d.get("data", {})]  # fmt: skip
    host = urlsplit(config["data"]["PHOTOCHANGER_PUBLIC_BASE_URL"]).hostname
    ingresses, routes = of_kind(docs, "Ingress"), of_kind(docs, "HTTPRoute")
    for name, expected in (("photochanger-api", host), ("photochanger-admin", f"admin.{host}")):
        ingress = ingresses[name]["spec"]
        assert [r["host"] for r in ingress["rules"]] == [expected] == ingress["tls"][0]["hosts"]
        assert routes[name]["spec"]["hostnames"] == [expected]
    certificate = of_kind(docs, "Certificate")["photochanger-gateway-tls"]
    assert certificate["spec"]["dnsNames"] == [host, f"admin.{host}"]
