"""store: zset on a real Valkey and all three databases: the ranking, top/rank/score,
invalidation, leases, and score moves from writes."""

from __future__ import annotations

from typing import Any

import pytest

from generated import hub_route_counts
from generator.runtime import Runtime, invalidate_tag


def _client(rt: Runtime) -> Any:
    return rt.cache.client


def _expected(runtime: Runtime) -> list[tuple[str, int]]:
    """The ranking straight from the database, in Valkey's order (score, then member bytes, descending)."""
    source = "`from`" if runtime.db.dialect == "mysql" else '"from"'
    sql = f"SELECT a.iata, COUNT(*) FROM flightschedule s JOIN airport a ON a.airport_id = s.{source} WHERE a.iata IS NOT NULL GROUP BY a.iata"
    rows = runtime.db.query(sql, ())
    return sorted(((str(i), int(n)) for i, n in rows), key=lambda r: (r[1], r[0].encode()), reverse=True)


def test_the_ranking_round_trips_as_a_sorted_set(runtime: Runtime) -> None:
    cold = hub_route_counts.fetch(runtime=runtime)
    warm = hub_route_counts.fetch(runtime=runtime)
    assert cold == warm
    assert [(r.iata, r.routes) for r in warm] == _expected(runtime)
    c = runtime.metrics.of("hub_route_counts")
    assert (c.misses, c.hits, c.db_queries) == (1, 1, 1)
    key = hub_route_counts.key()
    assert _client(runtime).type(key) == b"zset"
    assert _client(runtime).zcard(key) == len(warm)
    best = warm[0]
    assert _client(runtime).zscore(key, best.iata) == best.routes


def test_top_rank_and_score_are_single_reads(runtime: Runtime) -> None:
    ranking = hub_route_counts.fetch(runtime=runtime)
    assert len(ranking) > 5
    c = runtime.metrics.of("hub_route_counts")
    assert hub_route_counts.top(n=3, runtime=runtime) == ranking[:3]
    assert hub_route_counts.top(n=0, runtime=runtime) == []
    third = ranking[2]
    assert hub_route_counts.rank(iata=third.iata, runtime=runtime) == 2
    assert hub_route_counts.score(iata=third.iata, runtime=runtime) == third.routes
    assert hub_route_counts.rank(iata="ZZZ", runtime=runtime) is None
    assert hub_route_counts.score(iata="ZZZ", runtime=runtime) is None
    assert (c.hits, c.db_queries) == (5, 1)  # top(n=0) asks nothing


def test_a_read_on_a_miss_fills_the_whole_ranking(runtime: Runtime) -> None:
    first = hub_route_counts.top(n=1, runtime=runtime)
    assert [(r.iata, r.routes) for r in first] == _expected(runtime)[:1]
    assert _client(runtime).zcard(hub_route_counts.key()) == len(_expected(runtime))
    member = first[0].iata
    hub_route_counts.invalidate(runtime=runtime)
    assert not _client(runtime).exists(hub_route_counts.key(), hub_route_counts.key() + ":meta")
    assert hub_route_counts.rank(iata=member, runtime=runtime) == 0
    assert runtime.metrics.of("hub_route_counts").db_queries == 2


def test_invalidation_by_tag_and_all(runtime: Runtime) -> None:
    ranking = hub_route_counts.fetch(runtime=runtime)
    assert invalidate_tag("schedule", runtime) == 2  # the sorted set and its meta
    assert not _client(runtime).exists(hub_route_counts.key())
    assert hub_route_counts.fetch(runtime=runtime) == ranking
    hub_route_counts.invalidate_all(runtime=runtime)
    c = runtime.metrics.of("hub_route_counts")
    misses = c.misses
    assert hub_route_counts.score(iata=ranking[0].iata, runtime=runtime) == ranking[0].routes
    assert c.misses == misses + 1


def test_a_fill_that_raced_an_invalidation_is_dropped(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    query = hub_route_counts.QUERY
    real = query.query_database

    def racing(args: tuple[object, ...], rt: Runtime) -> object:
        result = real(args, rt)
        invalidate_tag("schedule", rt)
        return result

    monkeypatch.setattr(query, "query_database", racing)
    assert hub_route_counts.fetch(runtime=runtime)
    assert not _client(runtime).exists(hub_route_counts.key(), hub_route_counts.key() + ":meta")
    assert runtime.metrics.of("hub_route_counts").stale_fills_dropped == 1
