"""The provider keys the admin views report are the fleet's: the running replicas of each
provider service say in their heartbeats whether they hold its key; the api's own environment
(which holds no provider key when keys are given to the provider pods only) is not the truth."""

from __future__ import annotations

from datetime import timedelta

from photochanger_api.admin.routes_settings import _view
from photochanger_runtime.config import repository_root
from photochanger_runtime.configuration.platform_settings import PlatformSettings
from photochanger_runtime.jobs.store import WorkerPresence
from photochanger_runtime.providers.catalog import load_catalog
from photochanger_runtime.providers.fleet import ALIVE_WITHIN, FleetKeys, fleet_keys

from tests.support.jobs import T0


def _presence(name: str, holds_key: bool | None, age: timedelta) -> WorkerPresence:
    return WorkerPresence(f"gemini-{name}", "gemini", T0 - age, holds_key=holds_key)


def test_only_live_replicas_count_and_only_those_that_say_they_hold_the_key() -> None:
    presences = [
        _presence("a", True, timedelta(seconds=1)),
        _presence("b", False, timedelta(seconds=2)),
        _presence("c", None, timedelta(seconds=3)),  # does not say
        _presence("gone", True, ALIVE_WITHIN + timedelta(seconds=1)),
    ]
    assert fleet_keys(presences, T0) == FleetKeys(replicas=3, replicas_with_key=1)


def test_a_key_held_by_the_provider_pods_only_shows_as_configured() -> None:
    catalog = load_catalog(repository_root() / "configs" / "providers.json", environ={})
    stored = PlatformSettings()
    with_key = _view(stored, catalog, {"gemini": FleetKeys(replicas=2, replicas_with_key=2)})
    state = with_key.provider_keys["gemini"]
    assert (state.configured, state.source) == (True, "environment")
    assert (state.replicas, state.replicas_with_key) == (2, 2)

    without = _view(stored, catalog, {"gemini": FleetKeys(replicas=2, replicas_with_key=0)})
    state = without.provider_keys["gemini"]
    assert (state.configured, state.source, state.replicas) == (False, None, 2)
    # no replica running: nothing holds a key
    assert not _view(stored, catalog, {}).provider_keys["gemini"].configured
