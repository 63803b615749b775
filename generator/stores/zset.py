"""Score moves: which writes move a ``store: zset`` ranking's scores, and how (``moves:`` triggers).

For each write spec and each read spec with a ``moves: {column, by}``
trigger on the written table:

- INSERT: the member (the inserted row's ``column``) gains ``by``;
- DELETE: it loses ``by`` (a member at 0 or below leaves the ranking);
- UPDATE: if it sets ``column`` or a column the ranking's query names, the
  ranking is dropped whole (a generation bump); otherwise it is untouched;
- ``write: behind`` (applied later by the worker): the ranking is dropped
  whole when the write would move it.

The member comes from the write's parameters (INSERT values, WHERE
equalities) or from the rows looked up before the write (``lookup: true``).
When neither gives it, the build fails with FG097.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from generator.diagnostics import Diagnostic, SpecError
from generator.model import CompiledQuery, Literal_
from generator.link import WriteEffects


@dataclass(frozen=True, slots=True)
class MovePlan:
    spec: str
    version: str
    key: str  # the ranking's key body (a fixed key)
    member: tuple[str, str]  # ("param", name) or ("row", column)
    by: float  # signed: + for INSERT, - for DELETE


@dataclass(frozen=True, slots=True)
class WriteMoves:
    moves: tuple[MovePlan, ...]
    generations: tuple[str, ...]  # rankings dropped whole instead


def _named_columns(read: CompiledQuery) -> set[str]:
    tree = sqlglot.parse_one(read.spec.sql, read=read.spec.dialect)
    return {c.name.lower() for c in tree.find_all(exp.Column)}


def plan_moves(write: CompiledQuery, reads: list[CompiledQuery], effects: WriteEffects) -> WriteMoves:
    tree = sqlglot.parse_one(write.spec.sql, read=write.spec.dialect)
    bound = dict(write.bound_columns)
    looked_up = set(effects.lookup.columns) if effects.lookup is not None else set()
    moves: list[MovePlan] = []
    generations: set[str] = set()
    problems: list[Diagnostic] = []
    for r in sorted(reads, key=lambda q: q.spec.name):
        cache = r.spec.cache
        for trig in r.spec.invalidate:
            column = trig.moves_column
            if column is None or trig.table != write.written_table or cache is None:
                continue
            if isinstance(tree, exp.Update):
                sets = {e.this.name.lower() for e in tree.expressions if isinstance(e, exp.EQ) and isinstance(e.this, exp.Column)}
                if len(sets) != len(tree.expressions) or sets & (_named_columns(r) | {column}):
                    generations.add(r.spec.name)
                continue
            sign = 1.0 if isinstance(tree, exp.Insert) else -1.0
            if write.spec.write == "behind":
                generations.add(r.spec.name)
                continue
            if column in bound:
                member = ("param", bound[column])
            elif column in looked_up:
                member = ("row", column)
            else:
                problems.append(
                    Diagnostic(
                        write.spec.sql_span,
                        "FG097",
                        f"this write to {write.written_table} moves the ranking {r.spec.name} ({trig.moves_span}), but does not bind "
                        f"{column}; bind it (a :{column} in the statement), look it up (lookup: true, for DELETE), or drop the "
                        f"ranking (all: true instead of moves in {r.spec.path})",
                    )
                )
                continue
            text = "".join(p.text for p in cache.key.parts if isinstance(p, Literal_))
            moves.append(MovePlan(r.spec.name, r.version, text, member, trig.moves_by * sign))
    if problems:
        raise SpecError(problems)
    return WriteMoves(tuple(moves), tuple(sorted(generations)))
