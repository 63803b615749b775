"""The runtime warns when Valkey's eviction policy can break invalidation."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import valkey

from flughafen import Runtime
from generated import airport_by_iata
from generator.commands.stats import collect
from tests.integration.conftest import cache_url, server_kwargs
from tests.integration.forms import Form


@pytest.fixture
def config(valkey_server: object) -> Iterator[valkey.Valkey]:
    client = valkey.Valkey(**server_kwargs(valkey_server))  # type: ignore[arg-type]
    saved = client.config_get("maxmemory*")
    yield client
    client.config_set("maxmemory", saved["maxmemory"])
    client.config_set("maxmemory-policy", saved["maxmemory-policy"])


@pytest.mark.parametrize(
    ("maxmemory", "policy", "warned"),
    [
        ("1gb", "allkeys-lru", True),  # a cold tag set goes before the hot entry it guards
        ("1gb", "volatile-lru", True),  # tag sets have a TTL: evictable too
        ("1gb", "volatile-ttl", False),  # entries expire first, generations never
        ("1gb", "noeviction", False),
        ("0", "allkeys-lru", False),  # no limit: nothing is evicted
    ],
)
def test_the_first_read_warns_when_the_server_may_evict_what_invalidation_needs(
    form: Form, config: valkey.Valkey, db_url: str, valkey_server: object, caplog: pytest.LogCaptureFixture, maxmemory: str, policy: str, warned: bool
) -> None:
    config.config_set("maxmemory", maxmemory)
    config.config_set("maxmemory-policy", policy)
    with caplog.at_level(logging.WARNING, logger="flughafen"):
        with form.runtime_of(database_url=db_url, cache_url=cache_url(valkey_server), project_dir=Path.cwd()) as rt:
            form(airport_by_iata).fetch(iata="JFK", runtime=rt)
            form(airport_by_iata).fetch(iata="LAX", runtime=rt)
    warnings = [r.getMessage() for r in caplog.records if "evicts keys" in r.getMessage()]
    assert len(warnings) == (1 if warned else 0)
    if warned:
        assert f"maxmemory-policy {policy}" in warnings[0] and "volatile-ttl" in warnings[0]


def test_stats_shows_the_eviction_risk(config: valkey.Valkey, db_url: str, valkey_server: object) -> None:
    config.config_set("maxmemory", "1gb")
    with Runtime.from_config(database_url=db_url, cache_url=cache_url(valkey_server), project_dir=Path.cwd()) as rt:
        config.config_set("maxmemory-policy", "allkeys-lfu")
        risky = collect(rt)["eviction"]
        config.config_set("maxmemory-policy", "volatile-ttl")
        sound = collect(rt)["eviction"]
    assert risky is not None and "maxmemory-policy allkeys-lfu" in risky
    assert sound is None
