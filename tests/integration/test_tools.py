"""verify, explain, stats, warm and worker on real servers."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from flughafen import Runtime
from generated import airport_by_iata, airports_in_country, flight_search, hub_route_counts, seat_availability, seat_map
from generator.cli import main
from generator.commands.stats import collect
from generator.commands.verify import render, verify
from tests.integration.conftest import cache_url, require_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def all_urls(loaded_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    from generator.dataset.load import load
    from tests.integration.conftest import SERVERS

    for dialect in ("mysql", "postgres", "sqlite"):
        require_server(dialect)
        if dialect not in loaded_urls:
            url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'it.sqlite3'}" if dialect == "sqlite" else SERVERS[dialect][0]
            load(url, "tiny", progress=False)
            loaded_urls[dialect] = url
    return [loaded_urls[d] for d in ("mysql", "postgres", "sqlite")]


def test_verify_finds_every_seed_example_equal_on_all_three(all_urls: list[str], valkey_server: object) -> None:
    outcomes = verify(all_urls, ROOT / "specs", cache_url(valkey_server))
    assert outcomes and all(o.equal for o in outcomes), render(outcomes)
    assert {tuple(sorted(o.rows)) for o in outcomes} == {("mysql", "postgres", "sqlite")}


def test_verify_shows_rows_that_differ_between_collations(all_urls: list[str], valkey_server: object) -> None:
    # Lower-case 'germany': MariaDB's collation finds GERMANY's airports, PostgreSQL and SQLite do not.
    probe = SimpleNamespace(QUERY=airports_in_country.QUERY, EXAMPLES=({"country": "germany"},))
    outcomes = verify(all_urls, ROOT / "specs", cache_url(valkey_server), modules=[probe])
    assert [o.equal for o in outcomes] == [False]
    assert outcomes[0].rows == {"mysql": 457, "postgres": 0, "sqlite": 0}
    assert "differs" in render(outcomes) and "row counts differ: 457 and 0" in outcomes[0].detail
    assert "KENNEDY" not in outcomes[0].detail and "airport_id=" in outcomes[0].detail


def test_verify_command_exits_0_when_equal(all_urls: list[str], valkey_server: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUGHAFEN_CACHE_URL", cache_url(valkey_server))
    assert main(["verify", str(ROOT / "specs"), "--databases", *all_urls]) == 0


def test_explain_prints_the_plan_on_each_database(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "flight_search", "--database", db_url]) == 0
    out = capsys.readouterr().out
    assert "flight_search on" in out and ("departure" in out.lower() or "flight" in out.lower())
    if db_url.startswith("mysql"):  # MariaDB's plan is a table: its columns are named
        assert any(line.split()[:3] == ["id", "select_type", "table"] for line in out.splitlines()), out


def test_explain_and_warm_serve_a_bitmap_accessor_too(runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = runtime.config.database_url.raw
    assert main(["explain", "seat_map", "--database", db]) == 0
    assert "seat_map on" in capsys.readouterr().out
    params = tmp_path / "flights.jsonl"
    params.write_text('{"flight_id": 1001}\n{"flight_id": 1002}\n')
    assert main(["warm", "seat_map", "--params", str(params), "--database", db, "--cache", runtime.config.cache_url.raw]) == 0
    assert all(runtime.cache.client.exists(seat_map.key(flight_id=f, runtime=runtime)) for f in (1001, 1002))


def test_stats_sees_counters_published_by_every_runtime(db_url: str, valkey_server: object) -> None:
    url = cache_url(valkey_server)
    for _ in range(2):  # two "processes", one after the other
        with Runtime.from_config(database_url=db_url, cache_url=url, project_dir=ROOT) as rt:
            airport_by_iata.fetch(iata="JFK", runtime=rt)
            airport_by_iata.fetch(iata="JFK", runtime=rt)
    with Runtime.from_config(database_url=db_url, cache_url=url, project_dir=ROOT) as rt:
        data = collect(rt)
    mine = data["accessors"]["airport_by_iata"]
    assert mine["hits"] >= 3 and mine["misses"] >= 1
    assert data["memory"]["airport_by_iata"][1] > 0
    assert data["shapes"]["hash"][0] >= 1 and data["shapes"]["hash"][1] > 0  # airport_by_iata is a store: hash


def test_stats_reports_memory_per_shape_counting_bitmap_entries(db_url: str, valkey_server: object) -> None:
    url = cache_url(valkey_server)
    with Runtime.from_config(database_url=db_url, cache_url=url, project_dir=ROOT) as rt:
        rt.cache.client.flushall()
        for flight_id in (1001, 1002, -5):
            seat_map.fetch(flight_id=flight_id, runtime=rt)
        seat_availability.fetch(flight_id=1001, runtime=rt)
    with Runtime.from_config(database_url=db_url, cache_url=url, project_dir=ROOT) as rt:
        data = collect(rt)
    assert data["shapes"]["bitmap"][0] == 3  # three sets (one empty); their locks and metas are not entries
    assert data["shapes"]["json"][0] == 1
    assert data["shapes"]["bitmap"][1] > 0
    assert "keyspace_hits" in data["info"]


def test_stats_reports_memory_per_shape(runtime: Runtime) -> None:
    airport_by_iata.invalidate_all(runtime)  # its generation in every bucket: keys under fg:airport_by_iata:, not entries
    airport_by_iata.fetch(iata="JFK", runtime=runtime)  # hash
    hub_route_counts.fetch(runtime=runtime)  # zset
    flight_search.fetch(origin="JFK", destination="LAX", day=datetime.date(2024, 12, 15), runtime=runtime)  # json
    runtime.publish_metrics()
    data = collect(runtime)
    assert set(data["shapes"]) == {"json", "hash", "zset"}
    assert all(count >= 1 and mean > 0 for count, mean in data["shapes"].values())
    client = runtime.cache.client
    zset_key = hub_route_counts.key(runtime=runtime).encode()
    assert data["memory"]["hub_route_counts"] == (1, client.memory_usage(zset_key) + client.memory_usage(zset_key + b":meta"))
    assert data["memory"]["airport_by_iata"] == (1, client.memory_usage(airport_by_iata.key(iata="JFK", runtime=runtime)))


def test_warm_fills_misses_from_a_params_file(runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = tmp_path / "params.jsonl"
    days = ["2024-12-14", "2024-12-15", "2024-12-16"]
    params.write_text("\n".join(json.dumps({"origin": "JFK", "destination": "LAX", "day": d}) for d in days) + "\n")
    cache = runtime.config.cache_url.raw
    assert main(["warm", "flight_search", "--params", str(params), "--database", runtime.config.database_url.raw, "--cache", cache]) == 0
    import datetime

    for d in days:
        assert runtime.cache.client.exists(flight_search.key(origin="JFK", destination="LAX", day=datetime.date.fromisoformat(d), runtime=runtime))


def test_warm_takes_parameter_sets_from_a_query(runtime: Runtime) -> None:
    cache = runtime.config.cache_url.raw
    sql = "SELECT iata FROM airport WHERE iata IN ('JFK', 'LAX', 'FRA')"
    assert main(["warm", "airport_by_iata", "--from-query", sql, "--database", runtime.config.database_url.raw, "--cache", cache]) == 0
    assert all(runtime.cache.client.exists(airport_by_iata.key(iata=i, runtime=runtime)) for i in ("JFK", "LAX", "FRA"))


def _round_trips(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every round trip the runtime's cache makes: one command, or one pipeline of several."""
    sent: list[str] = []
    call, pipelined = runtime.cache.call, runtime.cache.pipelined

    def one(*args: object) -> object:
        sent.append(str(args[0]))
        return call(*args)

    def several(*commands: tuple[object, ...], wait: bool = False) -> list[object]:
        sent.append(f"{len(commands)} x {commands[0][0]}")
        return pipelined(*commands, wait=wait)

    monkeypatch.setattr(runtime.cache, "call", one)
    monkeypatch.setattr(runtime.cache, "pipelined", several)
    return sent


def test_warming_a_batch_is_one_pipeline_of_reads_and_one_of_fills(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    days = [datetime.date(2024, 12, 10) + datetime.timedelta(days=n) for n in range(15)]
    batch = [("JFK", "LAX", d) for d in days]
    flight_search.fetch(origin="JFK", destination="LAX", day=days[0], runtime=runtime)  # one already cached
    sent = _round_trips(runtime, monkeypatch)
    assert flight_search.QUERY.warm_batch(batch, runtime) == 14
    assert sent == ["15 x EVALSHA", "14 x EVALSHA"]  # each read takes a lease for its fill when the entry is missing
    queries = runtime.metrics.of("flight_search").db_queries
    for d in days:  # what was warmed is what a read returns, from the cache
        assert flight_search.fetch(origin="JFK", destination="LAX", day=d, runtime=runtime) == flight_search.QUERY.query_database(("JFK", "LAX", d), runtime)
    assert runtime.metrics.of("flight_search").db_queries == queries + len(days)  # only the direct queries above


def test_a_warm_fill_that_raced_an_invalidation_is_not_stored(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    day = datetime.date(2024, 12, 15)
    query = flight_search.QUERY
    real = query.query_database

    def then_invalidated(args: tuple[object, ...], rt: Runtime) -> object:
        result = real(args, rt)
        flight_search.invalidate_all(runtime=rt)  # a write lands while the warm's query runs
        return result

    monkeypatch.setattr(query, "query_database", then_invalidated)
    assert query.warm_batch([("JFK", "LAX", day)], runtime) == 0
    assert not runtime.cache.client.exists(flight_search.key(origin="JFK", destination="LAX", day=day, runtime=runtime))


def test_the_demo_loads_tiny_data_and_shows_every_accessor_cold_and_warm(
    tmp_path: Path, valkey_server: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's main job, on a fresh SQLite file: tables made and seeded once, then a row per example."""
    monkeypatch.chdir(ROOT)  # the project's pyproject.toml, as a user runs it
    monkeypatch.setattr("generator.commands.demo.WARM_CALLS", 20)
    from flughafen.settings import load_settings
    from generator.accessors import read_modules
    from generator.commands.demo import run_demo

    assert run_demo(f"sqlite:///{tmp_path / 'demo.sqlite3'}", cache_url(valkey_server)) == 0
    out, err = capsys.readouterr()
    assert "seeding them with generator.dataset.seed:tiny (once)" in err
    rows = {}
    for line in out.splitlines()[2:]:
        if not line.startswith("| "):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.setdefault(cells[0], []).append(cells)
    modules = read_modules(load_settings(ROOT))
    assert sorted(rows) == sorted(m.QUERY.name for m in modules)
    for m in modules:
        assert len(rows[m.QUERY.name]) == len(m.EXAMPLES)
    for spec, shown in rows.items():
        for example, count, _miss, _hit, _speedup, rate in (c[1:] for c in shown):
            assert int(count) >= 1, f"{spec} {example}: the example found no rows"
            assert float(rate.rstrip("%")) >= 90.0, f"{spec} {example}: warm calls were not hits ({rate})"
    assert all(c[1] == "top(n=10)" and c[2] == "10" for c in rows["hub_route_counts"])
