"""``store: zset``: a ranking as a Valkey sorted set of (member, score); writes may move scores.

Spec fields: ``cache.member`` and ``cache.score``, the result columns of each
member and its score (FG011 when missing); ``returns: many`` and no
``stampede: early`` (FG094); on an ``invalidate:`` entry, ``moves: {column,
by}``.

SQL stage: member and score name result columns (FG095) of storable types,
and nothing else is returned (FG096); ``moves:`` needs a fixed key, no
LIMIT, a column of the written table and a whole step on an int score (FG097).

Score moves (write plans), for each write and each ``moves:`` trigger on the
written table:

- INSERT: the member (the inserted row's ``column``) gains ``by``;
- DELETE: it loses ``by`` (a member at 0 or below leaves the ranking);
- UPDATE: if it sets ``column`` or a column the ranking's query names, the
  ranking is dropped whole (a generation bump); otherwise it is untouched;
- ``write: behind`` (applied later by the worker): the ranking is dropped
  whole when the write would move it.

The member comes from the write's parameters (INSERT values, WHERE
equalities) or from the rows looked up before a DELETE (``lookup: true``).
When neither gives it, the build fails with FG097 at the write's SQL.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import sqlglot
import yaml
from sqlglot import exp

from generator.code import Code, keywords, literal, name
from generator.diagnostics import Diagnostic, Span
from generator.model import Column, CompiledQuery, FromParam, FromRow, Literal_, Spec, StoreOptions, Value
from generator.names import name_problem
from generator.schema import Catalog
from generator.stores.base import CacheSection, OwnField, Reader, StoreKind, StorePlan, WritePlans, need_returns, refuse_early, tag_value

MEMBER_TYPES = ("str", "int")
SCORE_TYPES = ("int", "float")
_ROLE = {"member": "each member of the ranking", "score": "each member's score"}


@dataclass(frozen=True, slots=True)
class ZsetOptions(StoreOptions):
    member: str  # the result column of each member
    score: str  # the result column of its score
    member_span: Span
    score_span: Span


@dataclass(frozen=True, slots=True)
class Moves(StoreOptions):
    """``moves: {column, by}`` of an ``invalidate:`` entry."""

    column: str  # the written row's column naming the member
    by: float  # the step per inserted row
    span: Span


@dataclass(frozen=True, slots=True)
class ScoreMovePlan(StorePlan):
    """Add ``by`` to the score of ``member`` in the ranking at ``key`` (ZINCRBY after commit)."""

    spec: str
    version: str
    key: str  # the ranking's key body (a fixed key)
    member: Value
    by: float  # signed: + for INSERT, - for DELETE

    def values(self) -> tuple[Value, ...]:
        return (self.member,)

    def expression(self, index: Mapping[str, int]) -> Code:
        return Code(
            f"ScoreMove({literal(self.spec)}, {literal(self.version)}, key={literal(self.key)}, member={tag_value(self.member, index)}, by={literal(self.by)})"
        )

    def summary(self) -> str:
        return f"{self.spec} (a score moved by {self.by:+g})"


def options(spec: Spec) -> ZsetOptions:
    """The zset fields of a spec the spec stage accepted as store: zset."""
    assert spec.cache is not None and isinstance(spec.cache.options, ZsetOptions), spec.name
    return spec.cache.options


class Zset(StoreKind):
    name = "zset"
    summary = "a ranking (member, score)"
    template = "accessor_zset.py.jinja"
    test_template = "test_accessor_zset.py.jinja"
    codes = ("FG094", "FG095", "FG096", "FG097")
    whole_result = True  # a sorted set holds the whole ranking by design; top(n) bounds what is read
    write_arg = "scores"
    cache_fields: ClassVar = {
        "member": OwnField(
            "store: zset: the result column whose values are the ranking's members.",
            {"type": "string"},
            "FG013",
        ),
        "score": OwnField("store: zset: the result column (int or float) that orders the members.", {"type": "string"}, "FG013"),
    }
    trigger_fields: ClassVar = {
        "moves": OwnField(
            "store: zset: an INSERT adds `by` to the score of the member named by the written row's `column`, a DELETE subtracts it "
            "(ZINCRBY after commit), instead of dropping the ranking.",
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["column"],
                "properties": {
                    "by": {"type": "number", "not": {"const": 0}, "description": "The score step per inserted (+) or deleted (-) row; default 1."},
                    "column": {"type": "string", "description": "The written row's column whose value is the zset member."},
                },
            },
            "FG097",
        ),
    }

    # ---------------------------------------------------------------- spec

    def read_options(self, r: Reader, cache: CacheSection) -> StoreOptions | None:
        need_returns(r, cache, self.name, "many", "a sorted set holds a ranking, many rows", "FG094")
        refuse_early(r, cache, self.name, "FG094")
        found: dict[str, tuple[str, Span]] = {}
        for role in ("member", "score"):
            if role not in cache.fields:
                if isinstance(cache.node, yaml.MappingNode):
                    r.error(cache.node, "FG011", f"store: zset needs cache.{role}: the result column holding {_ROLE[role]}")
                continue
            value = r.string(cache.fields[role][1], f"cache.{role}")
            if value is not None:
                found[role] = (value.lower(), r.span(cache.fields[role][1]))
        if len(found) < 2:
            return None
        (member, member_span), (score, score_span) = found["member"], found["score"]
        return ZsetOptions(member, score, member_span, score_span)

    def read_trigger(self, r: Reader, fields: Mapping[str, tuple[yaml.Node, yaml.Node]]) -> StoreOptions | None:
        if "moves" not in fields:
            return None
        node = fields["moves"][1]
        moves = r.mapping(node, "invalidate[].moves", {"column": (), "by": ()})
        if "column" not in moves:
            if isinstance(node, yaml.MappingNode):
                r.error(node, "FG011", "moves needs a column: the written row's column that names the member, e.g. {column: flight_id, by: 1}")
            return None
        column = r.string(moves["column"][1], "invalidate[].moves.column")
        by = 1.0
        if "by" in moves:
            bnode = moves["by"][1]
            value = r.scalar(bnode) if isinstance(bnode, yaml.ScalarNode) else None
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value == 0:
                r.error(bnode, "FG012", f"invalidate[].moves.by must be a number other than 0, found {r.describe(bnode)}")
                return None
            by = float(value)
        return Moves(column.lower(), by, r.span(node)) if column else None

    # ----------------------------------------------------------------- sql

    def check_sql(self, spec: Spec, columns: tuple[Column, ...], catalog: Catalog, tree: exp.Expr) -> list[Diagnostic]:
        """Member and score name result columns of storable types, nothing else is returned; moves fit (FG097)."""
        o = options(spec)
        by_name = {c.name: c for c in columns}
        diags: list[Diagnostic] = []
        for role, column, where in (("member", o.member, o.member_span), ("score", o.score, o.score_span)):
            col = by_name.get(column)
            if col is None:
                close = difflib.get_close_matches(column, list(by_name), n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"the query returns: {', '.join(by_name)}"
                diags.append(Diagnostic(where, "FG095", f"cache.{role} names {column!r}, which the query does not return; {hint}"))
                continue
            allowed = MEMBER_TYPES if role == "member" else SCORE_TYPES
            if col.type not in allowed:
                cast = "CAST(... AS DOUBLE) AS " + column if role == "score" else "a str or int column"
                diags.append(Diagnostic(where, "FG096", f"cache.{role} {column!r} is {col.type}; a zset {role} must be {' or '.join(allowed)} (use {cast})"))
            elif col.nullable:
                diags.append(
                    Diagnostic(
                        where,
                        "FG096",
                        f"cache.{role} {column!r} can be NULL, which a zset cannot hold; filter it out (WHERE {column} IS NOT NULL) "
                        f"and say so with columns: {{{column}: {{nullable: false}}}}",
                    )
                )
        if o.member == o.score:
            diags.append(Diagnostic(o.score_span, "FG095", "cache.score names the same column as cache.member; a ranking needs two columns"))
        problem = name_problem(o.member, "member")
        if problem is not None and o.member in by_name and name_problem(o.member, "column") is None:  # else FG065 said it
            diags.append(
                Diagnostic(
                    o.member_span,
                    "FG095",
                    f"cache.member {o.member!r} {problem}; rank() and score() take the member by name, so rename the column (AS {o.member}_member)",
                )
            )
        for p in spec.params:
            if p.name == o.member:
                diags.append(
                    Diagnostic(
                        o.member_span,
                        "FG095",
                        f"cache.member {p.name!r} is also a parameter, so rank() and score() would take {p.name}= twice; rename the column (AS {p.name}_member)",
                    )
                )
            if p.name == "n":
                diags.append(Diagnostic(p.span, "FG020", "a store: zset spec cannot have a parameter named n: top() takes n, the count; rename it"))
        extra = [c.name for c in columns if c.name not in (o.member, o.score)]
        if extra and not diags:
            diags.append(
                Diagnostic(
                    o.member_span,
                    "FG096",
                    f"a zset holds a member and its score only, but the query also returns {', '.join(extra)}; select just {o.member} and {o.score}, or use store: json",
                )
            )
        return diags + _check_moves(spec, columns, catalog, tree)

    # ---------------------------------------------------------------- link

    def plan_write(self, write: CompiledQuery, reads: Sequence[CompiledQuery]) -> WritePlans:
        """The score moves of ``write`` (see the module's docstring); FG097 when it cannot name the member."""
        bound = dict(write.bound_columns)
        moves: list[ScoreMovePlan] = []
        lookup: set[str] = set()
        generations: set[str] = set()
        problems: list[Diagnostic] = []
        for r in self.mine(reads):
            key = "".join(p.text for p in r.spec.cache.key.parts if isinstance(p, Literal_)) if r.spec.cache else ""
            for trig in r.spec.invalidate:
                m = trig.options
                if not isinstance(m, Moves) or trig.table != write.written_table:
                    continue
                if write.statement == "update":
                    if set(write.set_columns) & (_named_columns(r) | {m.column}):
                        generations.add(r.spec.name)
                    continue
                if write.spec.write == "behind":
                    generations.add(r.spec.name)
                    continue
                member: Value
                if m.column in bound:
                    member = FromParam(bound[m.column])
                elif write.spec.lookup and write.statement == "delete":
                    member = FromRow(m.column)
                    lookup.add(m.column)
                else:
                    problems.append(
                        Diagnostic(
                            write.spec.sql_span,
                            "FG097",
                            f"this write to {write.written_table} moves the ranking {r.spec.name} ({m.span}), but does not bind "
                            f"{m.column}; bind it (a :{m.column} in the statement), look it up (lookup: true, for DELETE), or drop the "
                            f"ranking (all: true instead of moves in {r.spec.path})",
                        )
                    )
                    continue
                sign = 1.0 if write.statement == "insert" else -1.0
                moves.append(ScoreMovePlan(r.spec.name, r.version, key, member, m.by * sign))
        return WritePlans(tuple(moves), lookup=tuple(sorted(lookup)), generations=tuple(sorted(generations)), problems=tuple(problems))

    # -------------------------------------------------------------- render

    def context(self, q: CompiledQuery, base: Mapping[str, object], declarations: Sequence[Code]) -> dict[str, object]:
        o = options(q.spec)
        types = {c.name: c.type for c in q.columns}
        member, member_type = name(o.member, "member"), types[o.member]
        return {
            "member": member,
            "score": name(o.score, "column"),
            "score_annotation": Code("int" if types[o.score] == "int" else "float"),
            "member_signature_rt": keywords([*declarations, Code(f"{member}: {'int' if member_type == 'int' else 'str'}")], runtime=True),
            "top_signature_rt": keywords([*declarations, Code("n: int")], runtime=True),
        }

    def write_import(self, plans: Sequence[StorePlan]) -> Code:
        return Code("from flughafen.stores.zset import ScoreMove")


def _check_moves(spec: Spec, columns: tuple[Column, ...], catalog: Catalog, tree: exp.Expr) -> list[Diagnostic]:
    """FG097: ``moves:`` needs a ranking with a fixed key and no LIMIT, and a column of the written table."""
    cache, o = spec.cache, options(spec)
    assert cache is not None
    diags: list[Diagnostic] = []
    for trig in spec.invalidate:
        m = trig.options
        if not isinstance(m, Moves):
            continue
        if cache.key.fields:
            diags.append(
                Diagnostic(
                    m.span,
                    "FG097",
                    f"moves: needs a ranking with a fixed key, but the key {cache.key.text!r} has parameters; drop the ranking with all: true instead",
                )
            )
        if tree.args.get("limit") is not None:
            diags.append(
                Diagnostic(
                    m.span,
                    "FG097",
                    "moves: cannot keep a LIMITed ranking right (a moved member may enter or leave it); remove the LIMIT (top(n) limits reads) or use all: true",
                )
            )
        tdef = catalog.table(trig.table)
        if tdef is not None and tdef.column(m.column) is None:
            close = difflib.get_close_matches(m.column, [c.name for c in tdef.columns], n=1)
            diags.append(
                Diagnostic(m.span, "FG097", f"moves: table {trig.table!r} has no column {m.column!r}" + (f"; did you mean {close[0]!r}?" if close else ""))
            )
        score = next((c for c in columns if c.name == o.score), None)
        if score is not None and score.type == "int" and m.by != int(m.by):
            diags.append(Diagnostic(m.span, "FG097", f"moves: by {m.by} would make the int score {o.score!r} fractional; write a whole number"))
    return diags


def _named_columns(read: CompiledQuery) -> set[str]:
    """Every column name the read's SQL mentions."""
    tree = sqlglot.parse_one(read.spec.sql, read=read.spec.dialect)
    return {c.name.lower() for c in tree.find_all(exp.Column)}


ZSET = Zset()
