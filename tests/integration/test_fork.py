"""A runtime used before os.fork(): the child (a pre-forking server's worker, a multiprocessing
child) opens connections of its own and leaves the parent's alone. (A child on the project's
embedded server: tests/integration/test_embedded.py.)

The child shares the parent's sockets. Were it to use them, it would read
replies the parent is owed; were it to close them, psycopg would end the
parent's PostgreSQL session and pymysql its MariaDB one.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable

from flughafen import Runtime
from generated import airport_by_iata


def in_child(work: Callable[[], bytes]) -> bytes:
    """Runs ``work`` in a forked child; returns what it returned, or the exception it raised."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            out = work()
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            out = f"child failed: {e!r}".encode()
        os.write(write, out)
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as f:
        return f.read()


def test_a_forked_child_opens_its_own_connections_and_leaves_the_parent_s_working(runtime: Runtime) -> None:
    jfk = airport_by_iata.fetch(iata="JFK", runtime=runtime)  # the parent's database and Valkey connections are open
    assert runtime.cache.unanswered() == 1  # and the parent is owed its fill's reply

    def child() -> bytes:
        rows = [airport_by_iata.fetch(iata=iata, runtime=runtime) for iata in ("JFK", "LAX", "LAX")]
        counters = runtime.metrics.of("airport_by_iata")
        runtime.close()  # closes the child's connections only
        gc.collect()
        return b"ok" if [r.iata for r in rows if r] == ["JFK", "LAX", "LAX"] and counters.cache_errors == 0 else repr((rows, counters)).encode()

    assert in_child(child) == b"ok"
    assert runtime.cache.unanswered() == 1  # the child did not read the parent's reply
    assert airport_by_iata.fetch(iata="JFK", runtime=runtime) == jfk
    cdg = airport_by_iata.fetch(iata="CDG", runtime=runtime)  # a miss: the parent's database session still works
    assert cdg is not None and cdg.iata == "CDG"
    assert runtime.metrics.of("airport_by_iata").cache_errors == 0
