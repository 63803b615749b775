"""A query that orders inside an aggregate, run where only an older SQLite is at hand.

The build proves such SQL with sqlean.py's SQLite (the ``sqlite`` extra). An application
that runs without it, on a system SQLite older than 3.44, gets one line that says what
to install, not the engine's "near ORDER: syntax error".
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import sys
    sys.modules["sqlean"] = None  # as if the sqlite extra were not installed
    from flughafen import db
    from flughafen.config import parse_database_url
    if db.VERSION >= (3, 44):
        print("NEW", db.VERSION)
        raise SystemExit(0)
    sql = "SELECT GROUP_CONCAT(x, ',' ORDER BY x) AS xs FROM (SELECT 'b' AS x UNION ALL SELECT 'a')"
    conn = db.driver.connect(":memory:")
    try:
        conn.execute(sql)
    except Exception as error:
        print(db.old_sqlite(parse_database_url("sqlite:///app.sqlite3"), sql, error))
        print(db.old_sqlite(parse_database_url("sqlite:///app.sqlite3"), "SELECT 1 ORDER BY 1", error))
    """
)


def test_an_ordered_aggregate_on_an_old_sqlite_says_what_to_install() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    if lines[0].startswith("NEW"):
        import pytest

        pytest.skip(f"the system SQLite is already 3.44 or newer ({lines[0]}): nothing to explain")
    assert "needs SQLite 3.44 or newer" in lines[0]
    assert "pip install 'flughafen-gen[sqlite]'" in lines[0]
    assert lines[1] == "None"  # a query without an ordered aggregate keeps the engine's own message
