"""Invalidations that Valkey refuses: a full server, and one that keeps refusing.

A write commits, then tells Valkey what changed. On a server at its ``maxmemory``
with ``noeviction``, every command that may take memory is refused; invalidations
must still go through (they free entries, and a marker per tag is all they add).
When an invalidation fails all the same, this process's reads of the queries it
touches answer from the database until it has been made again and gone through.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import valkey

from flughafen.embedded import start_server
from flughafen.health import BACKOFF_MAX
from flughafen.write import InvalidationError
from generated import airport_by_iata, airports_in_country, rename_airport, seat_availability
from tests.integration.forms import Form


@pytest.fixture
def server() -> Iterator[tuple[object, valkey.Valkey]]:
    started = start_server()
    admin = valkey.Valkey(**started.connection_kwargs)
    yield started, admin
    admin.close()
    started.stop()


def _url(server: object, user: str = "") -> str:
    kwargs = server.connection_kwargs  # type: ignore[attr-defined]
    return f"valkey://{user}{kwargs['host']}:{kwargs['port']}/0"


def _fill_up(admin: valkey.Valkey) -> None:
    """The server past its maxmemory, with nothing it may evict: every command that may take memory is refused."""
    for i in range(200):
        admin.set(f"ballast:{i}", "x" * 10_000)
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", int(admin.info("memory")["used_memory"]) - 1_000_000)
    with pytest.raises(valkey.exceptions.OutOfMemoryError):
        admin.set("probe", "x")


def _name_in_country(form: Form, runtime: Any) -> str:
    return next(r.name for r in form(airports_in_country).fetch(country="ICELAND", runtime=runtime) if r.iata == "KEF")


def test_a_write_s_invalidations_go_through_on_a_full_valkey(form: Form, server: tuple[object, valkey.Valkey], db_url: str) -> None:
    started, admin = server
    with form.runtime_of(database_url=db_url, cache_url=_url(started), project_dir=Path.cwd()) as rt:
        kef = form(airport_by_iata).fetch(iata="KEF", runtime=rt)  # a hash the rename refreshes in place
        assert kef is not None
        original = _name_in_country(form, rt)  # a json entry the rename drops whole (its generation)
        form.settle(rt)
        _fill_up(admin)
        try:
            form(rename_airport).execute(airport_id=kef.airport_id, name="FULL", runtime=rt)  # no InvalidationError
            renamed = form(airport_by_iata).fetch(iata="KEF", runtime=rt)
            assert renamed is not None and renamed.name == "FULL"
            assert _name_in_country(form, rt) == "FULL"
            assert form.invalidate_tag(f"airport:{kef.airport_id}", rt) == 1
            form(airports_in_country).invalidate(country="ICELAND", runtime=rt)
            form(airports_in_country).invalidate_all(runtime=rt)
            assert not rt.cache.unsettled.any
        finally:
            admin.config_set("maxmemory", 0)
            form(rename_airport).execute(airport_id=kef.airport_id, name=original, runtime=rt)


def test_a_failed_invalidation_keeps_the_queries_it_touches_off_the_cache_until_it_goes_through(
    form: Form, server: tuple[object, valkey.Valkey], db_url: str
) -> None:
    started, admin = server
    admin.execute_command("ACL", "SETUSER", "app", "on", ">pw", "~*", "&*", "+@all", "-incr")  # its invalidations fail: NOPERM
    with form.runtime_of(database_url=db_url, cache_url=_url(started, "app:pw@"), project_dir=Path.cwd()) as rt:
        kef = form(airport_by_iata).fetch(iata="KEF", runtime=rt)
        assert kef is not None
        original = kef.name
        assert _name_in_country(form, rt) == original  # cached too; the rename drops it whole (its generation)
        seats = form(seat_availability).fetch(flight_id=1001, runtime=rt)  # a query the rename does not touch
        form.settle(rt)
        try:
            with pytest.raises(InvalidationError, match="committed"):
                form(rename_airport).execute(airport_id=kef.airport_id, name="UNSETTLED", runtime=rt)
            by_iata = rt.metrics.of("airport_by_iata")
            queries = by_iata.db_queries
            for _ in range(3):  # from the database, never the old row still cached
                now = form(airport_by_iata).fetch(iata="KEF", runtime=rt)
                assert now is not None and now.name == "UNSETTLED"
                assert _name_in_country(form, rt) == "UNSETTLED"
            assert by_iata.db_queries == queries + 3
            untouched = rt.metrics.of("seat_availability")
            hits = untouched.hits
            assert form(seat_availability).fetch(flight_id=1001, runtime=rt) == seats and untouched.hits == hits + 1

            admin.execute_command("ACL", "SETUSER", "app", "+incr")  # the cause goes away
            time.sleep(BACKOFF_MAX + 0.1)  # failed invalidations are made again at most once per backoff
            now = form(airport_by_iata).fetch(iata="KEF", runtime=rt)  # made again, then read through the cache
            assert now is not None and now.name == "UNSETTLED" and not rt.cache.unsettled.any
            form.settle(rt)
            hits = by_iata.hits
            assert form(airport_by_iata).fetch(iata="KEF", runtime=rt) == now and by_iata.hits == hits + 1
        finally:
            admin.execute_command("ACL", "SETUSER", "app", "+incr")
            form(rename_airport).execute(airport_id=kef.airport_id, name=original, runtime=rt)
