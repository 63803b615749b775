"""Checks of a spec's store shape against its result columns (``store: zset``: FG095, FG096, FG097).

Run by the SQL stage once the result columns and their types are known.
"""

from __future__ import annotations

import difflib

from sqlglot import exp

from generator.diagnostics import Diagnostic
from generator.model import Column, Spec
from generator.schema import Catalog

MEMBER_TYPES = ("str", "int")
SCORE_TYPES = ("int", "float")


def shape_suffix(spec: Spec) -> str:
    """What the store adds to the version: a hash or zset entry is never read as json, nor the reverse."""
    cache = spec.cache
    if cache is None or cache.store == "json":
        return ""
    return f":{cache.store}:{cache.member or ''}:{cache.score or ''}"


def check_moves(spec: Spec, columns: tuple[Column, ...], catalog: Catalog, tree: exp.Expr) -> list[Diagnostic]:
    """FG097: ``moves:`` triggers belong to a zset spec with a fixed key and no LIMIT, and name a column of the table."""
    cache = spec.cache
    diags: list[Diagnostic] = []
    for trig in spec.invalidate:
        if trig.moves_column is None or trig.moves_span is None:
            continue
        where = trig.moves_span
        if cache is None or cache.store != "zset":
            diags.append(Diagnostic(where, "FG097", "moves: applies to store: zset specs (a ranking whose scores a write moves); use tags or all: true"))
            continue
        if cache.key.fields:
            diags.append(Diagnostic(where, "FG097", f"moves: needs a ranking with a fixed key, but the key {cache.key.text!r} has parameters; drop the ranking with all: true instead"))
        if tree.args.get("limit") is not None:
            diags.append(Diagnostic(where, "FG097", "moves: cannot keep a LIMITed ranking right (a moved member may enter or leave it); remove the LIMIT (top(n) limits reads) or use all: true"))
        tdef = catalog.table(trig.table)
        if tdef is not None and tdef.column(trig.moves_column) is None:
            close = difflib.get_close_matches(trig.moves_column, [c.name for c in tdef.columns], n=1)
            diags.append(Diagnostic(where, "FG097", f"moves: table {trig.table!r} has no column {trig.moves_column!r}" + (f"; did you mean {close[0]!r}?" if close else "")))
        score = next((c for c in columns if c.name == cache.score), None)
        if score is not None and score.type == "int" and trig.moves_by != int(trig.moves_by):
            diags.append(Diagnostic(where, "FG097", f"moves: by {trig.moves_by} would make the int score {cache.score!r} fractional; write a whole number"))
    return diags


def check_store(spec: Spec, columns: tuple[Column, ...], catalog: Catalog, tree: exp.Expr) -> list[Diagnostic]:
    """A zset's member and score name result columns of storable types, and nothing else is returned."""
    cache = spec.cache
    moves = check_moves(spec, columns, catalog, tree)
    if cache is None or cache.store != "zset" or cache.member is None or cache.score is None:
        return moves
    assert cache.member_span is not None and cache.score_span is not None
    by_name = {c.name: c for c in columns}
    diags: list[Diagnostic] = []
    for role, name, where in (("member", cache.member, cache.member_span), ("score", cache.score, cache.score_span)):
        col = by_name.get(name)
        if col is None:
            close = difflib.get_close_matches(name, list(by_name), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"the query returns: {', '.join(by_name)}"
            diags.append(Diagnostic(where, "FG095", f"cache.{role} names {name!r}, which the query does not return; {hint}"))
            continue
        allowed = MEMBER_TYPES if role == "member" else SCORE_TYPES
        if col.type not in allowed:
            cast = "CAST(... AS DOUBLE) AS " + name if role == "score" else "a str or int column"
            diags.append(Diagnostic(where, "FG096", f"cache.{role} {name!r} is {col.type}; a zset {role} must be {' or '.join(allowed)} (use {cast})"))
        elif col.nullable:
            diags.append(Diagnostic(where, "FG096", f"cache.{role} {name!r} can be NULL, which a zset cannot hold; filter it out (WHERE {name} IS NOT NULL) and say so with columns: {{{name}: {{nullable: false}}}}"))
    if cache.member == cache.score:
        diags.append(Diagnostic(cache.score_span, "FG095", "cache.score names the same column as cache.member; a ranking needs two columns"))
    for p in spec.params:
        if p.name == cache.member:
            diags.append(Diagnostic(cache.member_span, "FG095", f"cache.member {p.name!r} is also a parameter, so rank() and score() would take {p.name}= twice; rename the column (AS {p.name}_member)"))
        if p.name == "n":
            diags.append(Diagnostic(p.span, "FG020", "a store: zset spec cannot have a parameter named n: top() takes n, the count; rename it"))
    extra = [c.name for c in columns if c.name not in (cache.member, cache.score)]
    if extra and not diags:
        diags.append(Diagnostic(cache.member_span, "FG096", f"a zset holds a member and its score only, but the query also returns {', '.join(extra)}; select just {cache.member} and {cache.score}, or use store: json"))
    return diags + moves
