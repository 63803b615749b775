"""What a store kind is to the build: a ``StoreKind`` each stage consults.

One module per kind (json.py, hash.py, zset.py, bitmap.py) subclasses
``StoreKind`` and overrides the hooks it needs; the registry in
``__init__.py`` names them. Stage by stage, a kind gives:

- spec (``spec/validate.py``): the fields of its own in ``cache:`` and in
  ``invalidate:`` entries, read into its ``StoreOptions``, and its rules on
  ``returns`` and ``stampede``;
- sql (``sql/compile.py``): its checks of those fields against the typed
  result columns; its options are part of the key's version, save those it
  names in ``version_neutral`` (``spec/version.py``);
- link (``link.py``): its write plans, what a write does to its entries
  besides dropping them (refresh a hash field, move a score, set a bit);
- render (``render.py``): its accessor template and that template's context,
  and how its plans are written into a write module.

A kind imports nothing of the stages: they call it with plain typed data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import yaml
from sqlglot import exp

from generator.code import Code, literal, py_tuple
from generator.diagnostics import Diagnostic, Span
from generator.model import Column, CompiledQuery, FromRow, Param, Spec, StoreOptions, TagPart, Value
from generator.schema import Catalog

# JSON Schema of a duration: seconds, or 30s / 5m / 1h / 1d and combinations.
DURATION: Mapping[str, Any] = {"oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": r"^\s*(\d+|(\d+d)?(\d+h)?(\d+m)?(\d+s)?)\s*$"}]}


class Reader(Protocol):
    """The spec stage's reader of YAML nodes (``spec/reader.py``): values out, problems collected."""

    path: str
    problems: list[Diagnostic]

    def error(self, node: yaml.Node | Span, code: str, message: str) -> None: ...

    def mapping(self, node: yaml.Node, what: str, allowed: Mapping[str, object]) -> dict[str, tuple[yaml.Node, yaml.Node]]: ...

    def string(self, node: yaml.Node, what: str) -> str | None: ...

    def duration(self, node: yaml.Node, what: str) -> int | None: ...

    def describe(self, node: yaml.Node) -> str: ...

    def scalar(self, node: yaml.ScalarNode) -> object: ...

    def span(self, node: yaml.Node) -> Span: ...


@dataclass(frozen=True, slots=True)
class OwnField:
    """A spec field that only one store kind reads."""

    doc: str  # for the JSON Schema and editors
    schema: Mapping[str, Any]  # its JSON Schema
    misplaced: str  # the error code when a spec of another store has the field
    why: str = ""  # said after "applies to store: X only" when it helps


@dataclass(frozen=True, slots=True)
class CacheSection:
    """What the spec stage read of a ``cache:`` section, for a kind to read its own fields."""

    node: yaml.Node
    fields: Mapping[str, tuple[yaml.Node, yaml.Node]]  # field -> (key node, value node)
    params: tuple[Param, ...]
    returns: str | None  # None: not valid (reported already)
    returns_span: Span
    stampede: str | None
    ttl: int | None
    refused_params: frozenset[str] = frozenset()  # declared but refused (reported): naming one is no error of its own


class StorePlan:
    """One thing a write does to a kind's entries after it commits (subclasses are frozen dataclasses)."""

    __slots__ = ()

    def values(self) -> tuple[Value, ...]:
        """Every value the plan takes from the write: its parameters or the looked-up row."""
        raise NotImplementedError

    def expression(self, index: Mapping[str, int]) -> Code:
        """The runtime object as Python source (of literals: generator/code.py); ``index``: a write parameter's position."""
        raise NotImplementedError

    def summary(self) -> str:
        """What the write keeps up to date, for the write module's docstring."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class WritePlans:
    """A kind's part in one write: plans, and what they change of the write's plain invalidation."""

    plans: tuple[StorePlan, ...] = ()
    keeps: frozenset[str] = frozenset()  # read specs kept up to date: the write does not fire their triggers
    lookup: tuple[str, ...] = ()  # columns the plans read from the touched rows before the write
    generations: tuple[str, ...] = ()  # read specs the write drops whole instead
    problems: tuple[Diagnostic, ...] = ()


class StoreKind:
    """A store kind's hooks; the defaults are what ``store: json`` needs (nothing)."""

    name: ClassVar[str]
    summary: ClassVar[str]  # what an entry is, for the spec format's docs
    template: ClassVar[str]  # the accessor template; it extends accessor_base.py.jinja
    test_template: ClassVar[str]  # the generated tests' template
    codes: ClassVar[tuple[str, ...]] = ()  # the error codes of its own rules (diagnostics.CODES says what each means)
    cache_fields: ClassVar[Mapping[str, OwnField]] = {}
    trigger_fields: ClassVar[Mapping[str, OwnField]] = {}
    whole_result: ClassVar[bool] = False  # holds a whole result by design: no lint on unbounded results
    write_arg: ClassVar[str] = ""  # WriteQuery's keyword for this kind's plans
    # Its options (cache: and invalidate: fields) that do not change what an entry holds or how it is found, with
    # the reason; every other one is part of the key's version (generator/spec/version.py).
    version_neutral: ClassVar[Mapping[str, str]] = {}

    # ---------------------------------------------------------------- spec

    def read_options(self, r: Reader, cache: CacheSection) -> StoreOptions | None:
        """Its own ``cache:`` fields, and its rules on returns and stampede; None after an error."""
        return StoreOptions()

    def read_trigger(self, r: Reader, fields: Mapping[str, tuple[yaml.Node, yaml.Node]]) -> StoreOptions | None:
        """Its own fields of one ``invalidate:`` entry (only those are given); None if it has none."""
        return None

    # ----------------------------------------------------------------- sql

    def check_sql(self, spec: Spec, columns: tuple[Column, ...], catalog: Catalog, tree: exp.Expr) -> list[Diagnostic]:
        """Its fields against the typed result columns and the schema."""
        return []

    # ---------------------------------------------------------------- link

    def check_reads(self, reads: Sequence[CompiledQuery], absent: frozenset[str]) -> list[Diagnostic]:
        """Rules that join its read specs to other read specs; ``absent`` names specs that failed before (no error to repeat)."""
        return []

    def plan_write(self, write: CompiledQuery, reads: Sequence[CompiledQuery]) -> WritePlans:
        """What ``write`` does to the entries of this kind's read specs, besides their triggers."""
        return WritePlans()

    # -------------------------------------------------------------- render

    def context(self, q: CompiledQuery, base: Mapping[str, object], declarations: Sequence[Code]) -> dict[str, object]:
        """What its accessor template uses besides ``base``, the common context (render.read_context).

        Names and code in it are ``Code`` (generator/code.py); ``declarations``
        are the parameters' (``origin: str``), for signatures of its own.
        """
        return {}

    def write_import(self, plans: Sequence[StorePlan]) -> Code:
        """The import line a write module holding ``plans`` needs."""
        return Code("")

    def mine(self, reads: Sequence[CompiledQuery]) -> list[CompiledQuery]:
        """The read specs of this kind, by name."""
        return sorted((q for q in reads if q.spec.cache is not None and q.spec.cache.store == self.name), key=lambda q: q.spec.name)


def need_returns(r: Reader, cache: CacheSection, kind: str, need: str, why: str, code: str) -> None:
    """Report a ``returns`` the kind cannot hold, at ``store:``."""
    if cache.returns is not None and cache.returns != need:
        r.error(
            cache.fields["store"][1],
            code,
            f"cache.store: {kind} needs returns: {need} ({why}), but this spec has returns: {cache.returns}; write returns: {need}, or use store: json",
        )


def refuse_early(r: Reader, cache: CacheSection, kind: str, code: str) -> None:
    """Report ``stampede: early``, which needs the expiry estimate only a json entry keeps."""
    if cache.stampede == "early":
        r.error(cache.fields["stampede"][1], code, f"stampede: early is for store: json; a {kind} entry keeps no expiry estimate; write stampede: lock")


def tag_value(value: Value, index: Mapping[str, int]) -> Code:
    """A value as the runtime takes it: a parameter's position, or ``row_field("column")``.

    >>> from generator.model import FromParam, FromRow
    >>> tag_value(FromParam("flight_id"), {"flight_id": 2}), tag_value(FromRow("flight_id"), {})
    ('2', "row_field('flight_id')")
    """
    if isinstance(value, FromRow):
        return Code(f"row_field({literal(value.column)})")
    return literal(index[value.name])


def tag_tuple(parts: Sequence[TagPart], index: Mapping[str, int]) -> Code:
    """A tag as the runtime's tuple: literals as strings, values as ``tag_value``."""
    return py_tuple([literal(p) if isinstance(p, str) else tag_value(p, index) for p in parts])
