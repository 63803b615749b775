"""A UNION's ORDER BY held as the ORDER BY of a SELECT from it (sql.union_order)."""

from __future__ import annotations

from collections.abc import Callable

from generator.model import CompiledQuery

UNION = "SELECT a.iata AS code, a.airport_id AS id FROM airport a UNION ALL SELECT l.iata, l.airline_id FROM airline l"


def test_a_text_key_of_a_union_is_collated_on_a_derived_table(compile_sql: Callable[..., CompiledQuery]) -> None:
    q = compile_sql(f"{UNION} ORDER BY code DESC, 2 LIMIT 5")
    tail = {d: " ".join(q.sql[d].rsplit(") AS", 1)[1].split()) for d in ("mysql", "postgres", "sqlite")}
    assert tail["mysql"] == "`u` ORDER BY `u`.`code` COLLATE utf8mb4_bin DESC, `u`.`id` LIMIT 5"
    assert tail["postgres"] == '"u" ORDER BY "u"."code" COLLATE "C" DESC NULLS LAST, "u"."id" NULLS FIRST LIMIT 5'
    assert tail["sqlite"] == '"u" ORDER BY "u"."code" DESC, "u"."id" LIMIT 5'
    assert [(c.name, c.type) for c in q.columns] == [("code", "str"), ("id", "int")]


def test_a_union_without_order_is_left_as_written(compile_sql: Callable[..., CompiledQuery]) -> None:
    q = compile_sql(UNION)
    assert q.sql["postgres"].startswith('SELECT\n  "a"."iata" AS "code"') and '"u"' not in q.sql["postgres"]
