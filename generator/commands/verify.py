"""``flughafen-gen verify``: every read spec's examples on every database, typed results compared.

The accessors the build emits for the named specs (built in memory, so what
is checked is the specs, not whatever ``generated/`` holds) run their SQL for
each dialect straight against each database (no cache), and the typed rows
are compared: in order where the query's ORDER BY is total, as multisets
otherwise. Every example of every spec is reported: equal, different (with
the rows that differ), or failed on a database (with its message: the other
databases still run). Exit 1 when any is different or failed.
"""

from __future__ import annotations

import sys
import types
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from flughafen import QueryError, Runtime
from flughafen.embedded import start_server
from flughafen.settings import load_settings
from generator.accessors import read_modules
from generator.commands.check import Context, _total_order
from generator.model import CompiledQuery
from generator.pipeline import emit, load_project
from generator.sql.parse import tokenize

EQUAL, DIFFERENT, FAILED, UNVERIFIED = "equal", "different", "failed", "no examples"


@dataclass
class Outcome:
    """One example of one spec on every database: equal, different (the rows), failed (the message), or no examples."""

    spec: str
    example: str
    rows: dict[str, int]  # dialect -> rows returned (a database that failed has none)
    status: str = EQUAL
    detail: str = ""

    @property
    def equal(self) -> bool:
        return self.status == EQUAL

    @property
    def bad(self) -> bool:
        """Different or failed: the command exits 1."""
        return self.status in (DIFFERENT, FAILED)


def ordered_specs(specs_dir: Path, schema: Path | None = None) -> set[str]:
    """Names of read specs whose ORDER BY is total (or that return one row)."""
    catalog, queries = load_project(specs_dir, schema)
    names = set()
    for q in queries:
        if q.spec.kind != "read":
            continue
        tree = sqlglot.parse_one(q.spec.sql, read=q.spec.dialect)
        aliases = {t.alias_or_name: t.name.lower() for t in tree.find_all(exp.Table)}
        if q.single_row or _total_order(Context(q, catalog, tokenize(q.spec), tree, aliases)):
            names.add(q.spec.name)
    return names


def built_modules(specs_dir: Path, schema: Path | None = None) -> list[types.ModuleType]:
    """The read accessors of ``specs_dir`` as ``build`` emits them, run from memory (nothing written).

    Each module is registered in ``sys.modules`` under a name of its own
    (the spec's name and version), as its row dataclass needs.
    """
    reads: list[CompiledQuery] = [q for q in load_project(specs_dir, schema)[1] if q.spec.kind == "read"]
    files = emit(reads) if reads else {}
    modules = []
    for q in sorted(reads, key=lambda q: q.spec.name):
        name = f"_flughafen_verify_{q.spec.name}_{q.version}"
        module = sys.modules.get(name)
        if module is None:
            module = types.ModuleType(name)
            sys.modules[name] = module
            exec(compile(files[f"{q.spec.name}.py"], f"<generated from {q.spec.path}>", "exec"), module.__dict__)
        modules.append(module)
    return modules


def _as_list(result: Any) -> list[Any]:
    if isinstance(result, list):
        return result
    return [] if result is None else [result]


def _difference(a: list[Any], b: list[Any], ordered: bool) -> str:
    if ordered:
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            if x != y:
                return f"first difference at row {i}:\n      {x}\n      {y}"
        longer = a if len(a) > len(b) else b
        return f"row counts differ: {len(a)} and {len(b)}; first row only in one:\n      {longer[min(len(a), len(b))]}"
    only_a = Counter(map(repr, a)) - Counter(map(repr, b))
    only_b = Counter(map(repr, b)) - Counter(map(repr, a))
    return f"only in the first: {list(only_a)[:3]}\n      only in the second: {list(only_b)[:3]}"


def verify(
    database_urls: list[str],
    specs_dir: Path,
    cache_url: str = "embedded",
    modules: list[Any] | None = None,
    schema: Path | None = None,
) -> list[Outcome]:
    """Every example of ``modules`` (default: the configured package's read accessors) on every database.

    A database that does not answer at the start raises (the environment
    failed); a query a database refuses, or whose rows cannot be read, is
    that example's outcome (``failed``), and the others still run.
    """
    ordered = ordered_specs(specs_dir, schema)
    runtimes: dict[str, Runtime] = {}
    outcomes: list[Outcome] = []
    private = None
    if cache_url.strip() == "embedded":
        # A server of verify's own, stopped when it ends: the examples' entries stay out of the
        # project's embedded Valkey (shared by the application), and theirs out of verify.
        private = start_server()
        cache_url = f"valkey://{private.host}:{private.port}/0"
    try:
        for url in database_urls:
            runtimes[url] = Runtime.from_config(database_url=url, cache_url=cache_url)
            runtimes[url].db.query("SELECT 1")
        for module in modules if modules is not None else read_modules(load_settings()):
            query = module.QUERY
            if not module.EXAMPLES:
                outcomes.append(Outcome(query.name, "-", {}, UNVERIFIED, "add examples: to the spec to verify it"))
            for example in module.EXAMPLES:
                shown = ", ".join(f"{k}={v}" for k, v in example.items())
                args = tuple(example[p.name] for p in query.params)
                outcomes.append(_compare(query, shown, args, runtimes, query.name in ordered))
    finally:
        for rt in runtimes.values():
            rt.close()
        if private is not None:
            private.stop()
    return outcomes


def _compare(query: Any, shown: str, args: tuple[Any, ...], runtimes: dict[str, Runtime], is_ordered: bool) -> Outcome:
    """One example on every database, each compared with the first that answered."""
    results: dict[str, list[Any]] = {}
    failures: list[str] = []
    for rt in runtimes.values():
        where = f"{rt.db.dialect} ({rt.config.database_url.redacted()})"
        try:
            results[rt.db.dialect] = _as_list(query.query_database(args, rt))
        except QueryError as e:
            failures.append(f"failed on {where}: {' '.join(str(e.__cause__ or e).split())}")
        except (ValueError, TypeError, ArithmeticError) as e:  # a value the row class cannot take
            failures.append(f"failed on {where}: a value could not be read: {e}")
    rows = {d: len(r) for d, r in results.items()}
    differences = []
    if results:
        first, expected = next(iter(results.items()))
        for dialect, got in results.items():
            same = got == expected if is_ordered else Counter(map(repr, got)) == Counter(map(repr, expected))
            if not same:
                differences.append(f"{first} vs {dialect}: {_difference(expected, got, is_ordered)}")
    if failures:
        return Outcome(query.name, shown, rows, FAILED, "\n    ".join(failures + differences))
    if differences:
        return Outcome(query.name, shown, rows, DIFFERENT, "\n    ".join(differences))
    return Outcome(query.name, shown, rows)


def render(outcomes: list[Outcome]) -> str:
    """A table of every example, then what differs or failed, with the rows and the messages."""
    dialects = sorted({d for o in outcomes for d in o.rows})
    head = ["spec", "example", *[f"{d} rows" for d in dialects], "outcome"]
    body = [[o.spec, o.example, *[str(o.rows.get(d, "-")) for d in dialects], o.status.upper() if o.bad else o.status] for o in outcomes]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + " |" for r in [head, *body]]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for o in outcomes:
        if o.bad:
            verb = "differs" if o.status == DIFFERENT else "failed"
            lines.append(f"\n{o.spec} ({o.example}) {verb}:\n    {o.detail}")
    return "\n".join(lines)


def summary(outcomes: list[Outcome]) -> str:
    """``12 equal, 1 different, 1 failed on a database, 2 without examples`` (by example)."""
    counts = Counter(o.status for o in outcomes)
    parts = [f"{counts[EQUAL]} equal", f"{counts[DIFFERENT]} different", f"{counts[FAILED]} failed on a database"]
    if counts[UNVERIFIED]:
        parts.append(f"{counts[UNVERIFIED]} spec(s) without examples (not verified)")
    return ", ".join(parts)


def main_verify(database_urls: list[str], specs_dir: Path) -> int:
    outcomes = verify(database_urls, specs_dir, modules=built_modules(specs_dir))
    print(render(outcomes))
    print(f"\n{summary(outcomes)}", file=sys.stderr)
    return 1 if any(o.bad for o in outcomes) else 0


# verify's databases when none are named: the local servers of the test setup and the embedded default.
DEFAULT_DATABASES = [
    "mysql://root@127.0.0.1:3306/flughafen",
    "postgresql://postgres@127.0.0.1:5432/flughafen",
    "sqlite:///.flughafen/flughafen.sqlite3",
]


def run_verify(database_urls: list[str] | None, load_scale: str | None, specs_dir: Path) -> int:
    """``flughafen-gen verify``: the named databases (else DEFAULT_DATABASES), each loaded first with ``load_scale`` where missing."""
    from generator.dataset.load import is_loaded, load

    urls = database_urls or DEFAULT_DATABASES
    if load_scale:
        for url in urls:
            if not is_loaded(url, load_scale):
                load(url, load_scale)
    return main_verify(urls, specs_dir)
