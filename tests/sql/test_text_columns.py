"""Text compared with another column's text, or with what a subquery selects (sql.text_columns)."""

from __future__ import annotations

import pytest

from generator.diagnostics import SpecError
from generator.schema import parse_catalog
from generator.sql.compile import compile_query
from generator.sql.testing import make_spec

CATALOG = parse_catalog(
    """
    CREATE TABLE kind (ref CHAR(3) NOT NULL, label VARCHAR(20) NOT NULL, PRIMARY KEY (ref));
    CREATE TABLE item (id INT NOT NULL, ref CHAR(3) NOT NULL, name VARCHAR(20) NOT NULL, PRIMARY KEY (id),
      CONSTRAINT item_kind FOREIGN KEY (ref) REFERENCES kind (ref));
    """
)


def refusal(sql: str) -> str | None:
    try:
        compile_query(make_spec(sql), CATALOG)
    except SpecError as e:
        [d] = e.diagnostics
        assert d.code == "FG068"
        return d.message
    return None


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT i.id FROM item i JOIN kind c ON c.ref = i.ref",  # a declared foreign key: copies of the key's values
        "SELECT i.id FROM item i WHERE i.ref IN (SELECT c.ref FROM kind c WHERE c.label = 'X')",
        "SELECT i.id FROM item i WHERE UPPER(i.name) IN (SELECT UPPER(c.label) FROM kind c)",
        "SELECT i.id FROM item i JOIN kind c ON UPPER(c.label) = UPPER(i.name)",
        "SELECT i.id FROM item i WHERE i.name = i.name",
    ],
)
def test_builds_where_the_case_of_both_sides_is_fixed(sql: str) -> None:
    assert refusal(sql) is None


@pytest.mark.parametrize(
    ("sql", "rewrite"),
    [
        ("SELECT i.id FROM item i JOIN kind c ON c.label = i.name", "UPPER(c.label) = UPPER(i.name)"),
        ("SELECT i.id FROM item i WHERE i.name IN (SELECT c.label FROM kind c)", "UPPER(i.name) IN (SELECT UPPER(c.label) ...)"),
        ("SELECT i.id FROM item i WHERE i.name = (SELECT MIN(c.ref) FROM kind c)", None),
        ("SELECT a.id FROM item a JOIN item b ON b.name = a.name AND b.id <> a.id", "UPPER(b.name) = UPPER(a.name)"),
        ("SELECT i.id FROM item i WHERE EXISTS (SELECT 1 FROM kind c WHERE c.label <> i.name)", "UPPER(c.label) <> UPPER(i.name)"),
    ],
)
def test_is_refused_where_the_stored_case_may_differ(sql: str, rewrite: str | None) -> None:
    message = refusal(sql)
    assert message is not None and ("compares the text of two columns" in message or "compares text" in message), message
    if rewrite is not None:
        assert f"compare UPPER() of both sides: {rewrite}" in message
