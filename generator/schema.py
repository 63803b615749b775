"""schema.sql (MySQL DDL) -> Catalog: the tables and typed columns queries are checked against.

>>> cat = parse_catalog("CREATE TABLE t (id INT NOT NULL, d DECIMAL(10,2) NULL, PRIMARY KEY (id));")
>>> cat.table("t").column("d")
ColumnDef(name='d', sql_type='DECIMAL(10, 2)', type='decimal', nullable=True, scale=2, length=None, auto_increment=False, default=None)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from generator.diagnostics import Diagnostic, Span, SpecError
from generator.model import PyType

DType = exp.DataType.Type

_INT_TYPES = {
    DType.TINYINT,
    DType.UTINYINT,
    DType.SMALLINT,
    DType.USMALLINT,
    DType.MEDIUMINT,
    DType.UMEDIUMINT,
    DType.INT,
    DType.UINT,
    DType.BIGINT,
    DType.UBIGINT,
}
_TEXT_TYPES = {DType.CHAR, DType.VARCHAR, DType.TEXT, DType.MEDIUMTEXT, DType.LONGTEXT, DType.TINYTEXT}


@dataclass(frozen=True, slots=True)
class ColumnDef:
    name: str
    sql_type: str  # as sqlglot writes it for MySQL, e.g. "DECIMAL(10, 2)"
    type: PyType
    nullable: bool
    scale: int | None = None  # decimal digits after the point
    length: int | None = None  # CHAR/VARCHAR length
    auto_increment: bool = False
    default: str | None = None  # SQL literal text of the default, if any


@dataclass(frozen=True, slots=True)
class ForeignKey:
    columns: tuple[str, ...]
    table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TableDef:
    name: str
    columns: tuple[ColumnDef, ...]
    primary_key: tuple[str, ...]
    unique: tuple[tuple[str, ...], ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()

    def column(self, name: str) -> ColumnDef | None:
        lname = name.lower()
        for c in self.columns:
            if c.name == lname:
                return c
        return None

    def indexed(self, column: str) -> bool:
        """True when ``column`` leads the primary key, a unique key or an index."""
        keys = (self.primary_key, *self.unique, *self.indexes)
        return any(k and k[0] == column.lower() for k in keys)


@dataclass(frozen=True, slots=True)
class Catalog:
    tables: tuple[TableDef, ...]

    def table(self, name: str) -> TableDef | None:
        lname = name.lower()
        for t in self.tables:
            if t.name == lname:
                return t
        return None

    def sqlglot_schema(self) -> dict[str, dict[str, str]]:
        """The mapping sqlglot's optimizer takes: table -> column -> type."""
        return {t.name: {c.name: c.sql_type for c in t.columns} for t in self.tables}


def load_catalog(path: Path, display_path: str | None = None) -> Catalog:
    shown = display_path or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError([Diagnostic(Span(shown, 1, 1), "FG080", f"cannot read the schema: {e}")]) from e
    return parse_catalog(text, shown)


def parse_catalog(text: str, path: str = "schema.sql") -> Catalog:
    try:
        statements = sqlglot.parse(text, read="mysql")
    except ParseError as e:
        err = e.errors[0] if e.errors else {}
        span = Span(path, int(err.get("line") or 1), int(err.get("col") or 1))
        raise SpecError([Diagnostic(span, "FG080", f"schema.sql does not parse: {err.get('description', e)}")]) from e
    tables: list[TableDef] = []
    problems: list[Diagnostic] = []
    for stmt in statements:
        if stmt is None:
            continue
        if not isinstance(stmt, exp.Create) or stmt.kind != "TABLE":
            problems.append(Diagnostic(Span(path, 1, 1), "FG080", f"schema.sql may hold only CREATE TABLE statements, found {stmt.key.upper()}"))
            continue
        tables.append(_table(stmt))
    names = [t.name for t in tables]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(Diagnostic(Span(path, 1, 1), "FG080", f"table {name!r} is defined twice in schema.sql"))
    if problems:
        raise SpecError(problems)
    return Catalog(tuple(sorted(tables, key=lambda t: t.name)))


def _table(create: exp.Create) -> TableDef:
    schema = create.this
    assert isinstance(schema, exp.Schema)
    name = schema.this.name.lower()
    columns: list[ColumnDef] = []
    pk: tuple[str, ...] = ()
    unique: list[tuple[str, ...]] = []
    indexes: list[tuple[str, ...]] = []
    fks: list[ForeignKey] = []
    for item in schema.expressions:
        if isinstance(item, exp.ColumnDef):
            col = _column(item)
            columns.append(col)
            if any(isinstance(c.kind, exp.PrimaryKeyColumnConstraint) for c in item.constraints):
                pk = (col.name,)
        elif isinstance(item, exp.PrimaryKey):
            pk = _names(item.expressions)
        elif isinstance(item, exp.UniqueColumnConstraint):
            target = item.this
            unique.append(_names(target.expressions if isinstance(target, exp.Schema) else [target]))
        elif isinstance(item, exp.IndexColumnConstraint):
            indexes.append(_names(item.expressions))
        elif isinstance(item, exp.Constraint):
            for fk in item.find_all(exp.ForeignKey):
                ref = fk.args["reference"].this
                fks.append(ForeignKey(_names(fk.expressions), ref.this.name.lower(), _names(ref.expressions)))
    return TableDef(name, tuple(columns), pk, tuple(unique), tuple(indexes), tuple(fks))


def _names(items: list[exp.Expression]) -> tuple[str, ...]:
    return tuple(i.name.lower() for i in items)


def _column(cdef: exp.ColumnDef) -> ColumnDef:
    kind = cdef.args["kind"]
    assert isinstance(kind, exp.DataType)
    nullable = True
    auto = False
    default: str | None = None
    for c in cdef.constraints:
        k = c.kind
        if isinstance(k, exp.NotNullColumnConstraint):
            nullable = bool(k.args.get("allow_null"))
        elif isinstance(k, exp.PrimaryKeyColumnConstraint):
            nullable = False
        elif isinstance(k, exp.AutoIncrementColumnConstraint):
            auto = True
        elif isinstance(k, exp.DefaultColumnConstraint):
            default = k.this.sql(dialect="mysql")
    params = [int(p.this.name) for p in kind.expressions if isinstance(p, exp.DataTypeParam) and p.this.is_int]
    scale = params[1] if kind.this in (DType.DECIMAL, DType.DOUBLE) and len(params) > 1 else None
    if kind.this == DType.DECIMAL and scale is None:
        scale = 0
    length = params[0] if kind.this in (DType.CHAR, DType.VARCHAR) and params else None
    return ColumnDef(
        name=cdef.name.lower(),
        sql_type=kind.sql(dialect="mysql"),
        type=py_type(kind),
        nullable=nullable,
        scale=scale,
        length=length,
        auto_increment=auto,
        default=default,
    )


def py_type(kind: exp.DataType) -> PyType:
    """The Python type a column of this SQL type reads as, the same on every driver."""
    t = kind.this
    if t in (DType.TINYINT, DType.UTINYINT) and [p.this.name for p in kind.expressions] == ["1"]:
        return "bool"
    if t == DType.BOOLEAN:
        return "bool"
    if t in _INT_TYPES:
        return "int"
    if t in (DType.DECIMAL, DType.UDECIMAL):
        return "decimal"
    if t in (DType.FLOAT, DType.DOUBLE, DType.UDOUBLE):
        return "float"
    if t == DType.DATE:
        return "date"
    if t in (DType.DATETIME, DType.TIMESTAMP, DType.DATETIME64, DType.TIMESTAMPTZ):
        return "datetime"
    if t == DType.TIME:
        return "time"
    if t in _TEXT_TYPES:
        return "str"
    return "str"
