"""The runtime behind Sentinel (``valkey+sentinel://``): the primary the sentinel names, through a failover."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import valkey

from flughafen import Runtime, invalidate_tag
from flughafen.local_cluster import LocalSentinel
from generated import airport_by_iata, flight_search
from tests.integration.readers import Readers

ROOT = Path(__file__).resolve().parents[2]
CODES = ["JFK", "LAX", "SFO", "ORD", "FRA", "CDG"]


@pytest.fixture
def sentinel() -> Iterator[LocalSentinel]:
    with LocalSentinel() as own:
        yield own


def test_reads_fills_and_tags_go_to_the_primary_the_sentinel_names(sentinel: LocalSentinel, db_url: str) -> None:
    with Runtime.from_config(database_url=db_url, cache_url=sentinel.url, project_dir=ROOT) as rt:
        jfk = airport_by_iata.fetch(iata="JFK", runtime=rt)
        assert airport_by_iata.fetch(iata="JFK", runtime=rt) == jfk
        assert rt.metrics.of("airport_by_iata").hits == 1
        rt.cache.settle()
        primary = sentinel.client(sentinel.primary_port())
        assert primary.exists(airport_by_iata.key(iata="JFK", runtime=rt)) == 1
        assert invalidate_tag(f"airport:{jfk.airport_id}", rt) == 1  # type: ignore[union-attr]
        assert primary.exists(airport_by_iata.key(iata="JFK", runtime=rt)) == 0


def test_reads_stay_right_through_a_failover_and_fill_the_new_primary(sentinel: LocalSentinel, db_url: str) -> None:
    with Runtime.from_config(database_url=db_url, cache_url=sentinel.url, project_dir=ROOT) as rt:
        expected = {code: airport_by_iata.fetch(iata=code, runtime=rt) for code in CODES}
        readers = Readers(lambda code: airport_by_iata.fetch(iata=code, runtime=rt), expected, 2)
        time.sleep(0.2)
        new = sentinel.failover()
        time.sleep(0.5)
        readers.stop()
        assert readers.failures == [] and readers.wrong == []
        assert new == sentinel.ports["replica"]
        day = datetime.date(2024, 12, 15)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # a miss now fills the new primary, and hits it
            try:
                flight_search.invalidate(origin="JFK", destination="LAX", day=day, runtime=rt)
            except valkey.ConnectionError:  # sent on a connection the failover closed: the caller is told
                continue
            flight_search.fetch(origin="JFK", destination="LAX", day=day, runtime=rt)
            rt.cache.settle()
            if sentinel.client(new).exists(flight_search.key(origin="JFK", destination="LAX", day=day, runtime=rt)):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("no fill reached the new primary")
        hits = rt.metrics.of("flight_search").hits
        flight_search.fetch(origin="JFK", destination="LAX", day=day, runtime=rt)
        assert rt.metrics.of("flight_search").hits == hits + 1
