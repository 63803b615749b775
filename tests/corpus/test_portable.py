"""The portability corpus (issue 5): tricky queries as specs, each built and equal
on MariaDB, PostgreSQL and SQLite, or refused by the build with a portable rewrite.

The layout is in ``tests/corpus/cases.py``; ``python -m tests.corpus.regen``
rewrites the expected files. The server tests load the ``tiny`` data set into
databases of their own (``flughafen_corpus_<pid>``, dropped at the end) and run
``verify`` over every built case.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from generator.cli import main
from generator.commands.verify import built_modules, render, verify
from generator.dataset.load import load
from generator.pipeline import load_project
from generator.schema import load_catalog
from generator.sql.prove import Proof, held_statements, prove
from tests.corpus.cases import CORPUS, SCHEMA, build_stderr, cases, held_sql
from tests.integration.conftest import _drop, cache_url, require_server, valkey_server  # noqa: F401 - a fixture

BUILDS, REFUSED, WORKSHOP = cases("builds"), cases("refused"), cases("workshop")
WORKSHOP_BUILT = [c for c in WORKSHOP if (c / "sql.txt").is_file()]
NAME = f"flughafen_corpus_{os.getpid()}"
SERVERS = {"mysql": f"mysql://root@127.0.0.1:3306/{NAME}", "postgres": f"postgresql://postgres@127.0.0.1:5432/{NAME}"}

# Every construct the issue and DIALECTS.md name, as a pattern over the cases' SQL:
# each must appear in at least one case (of either kind).
CONSTRUCTS = {
    "text = a parameter": r"\.(country|city|flightno) = :",
    "text = a literal": r"= '[A-Za-z]+'",
    "text IN": r" IN \('",
    "text LIKE": r" LIKE ",
    "ORDER BY text": r"ORDER BY g\.name",
    "MIN/MAX of text": r"MAX\(p\.lastname\)",
    "DATE(col) = :d": r"DATE\(f\.departure\) = :day",
    "TIMESTAMPDIFF": r"TIMESTAMPDIFF\(",
    "DAYOFWEEK": r"DAYOFWEEK\(",
    "GROUP_CONCAT": r"GROUP_CONCAT\(b\.booking_id\)",
    "GROUP_CONCAT ORDER BY": r"GROUP_CONCAT\([^)]* ORDER BY",
    "NULLs ascending": r"ORDER BY a\.iata, ",
    "NULLs descending": r"ORDER BY a\.iata DESC",
    "int / int": r"capacity / 7",
    "DIV": r" DIV ",
    "LIMIT x,y": r"LIMIT \d+, \d+",
    "OFFSET": r"OFFSET :",
    "IFNULL": r"IFNULL\(",
    "COALESCE": r"COALESCE\(",
    "CONCAT with NULL": r"CONCAT\(a\.iata",
    "CONCAT_WS": r"CONCAT_WS\(",
    "TINYINT(1) columns": r"s\.sunday = 1",
    "SUM(cond)": r"SUM\(s\.departure >=",
    "flag AND flag": r"s\.saturday AND s\.sunday",
    "AVG of a DECIMAL": r"AVG\(b\.price\)",
    "DECIMAL / int": r"b\.price / 32",
    "DECIMAL arithmetic": r"b\.price \* 2",
    "ROUND": r"ROUND\(b\.price",
    "CHAR(n)": r"b\.seat",
    "unaliased aggregate": r"COUNT\(\*\)\n",
    "permissive GROUP BY": r"f\.flightno, COUNT\(\*\)",
    "GROUP BY a primary key": r"GROUP BY al\.airline_id",
    "INTERVAL": r"INTERVAL \d+ MINUTE",
    "DATE_ADD": r"DATE_ADD\(",
    "INTERVAL MONTH": r"INTERVAL 1 MONTH",
    "CASE": r"CASE WHEN",
    "IF()": r"IF\(",
    "UNION": r"\nUNION\n",
    "UNION ALL": r"UNION ALL",
    "CTE": r"^WITH ",
    "window functions": r"OVER \(PARTITION BY",
    "`from`/`to`": r"f\.`from`",
    "<=>": r"<=>",
    "||": r"\|\|",
    "LENGTH": r"LENGTH\(",
    "EXISTS": r"EXISTS \(",
    "COUNT(DISTINCT)": r"COUNT\(DISTINCT",
    "GROUP BY text": r"GROUP BY p\.lastname",
    "DISTINCT text": r"SELECT DISTINCT p\.lastname",
    "UNION of text": r"p\.lastname AS name",
    "SUBSTRING from the end": r"SUBSTRING\(a\.name, -",
    "UPPER in a result": r"UPPER\(d\.street\) AS",
    "UPPER to compare": r"UPPER\(g\.city\) = UPPER",
    "text BETWEEN": r"BETWEEN 'COX'",
    "UNSIGNED minus more": r"p\.capacity - 1000",
    "ORDER BY NULL": r"ORDER BY NULL",
    "COUNT(DISTINCT a, b)": r"COUNT\(DISTINCT \w+\.\w+, ",
    "CAST AS UNSIGNED": r"AS UNSIGNED\)",
    "CAST of text to a number": r"CAST\(SUBSTRING",
    "a decimal as text": r"CAST\(b\.price AS CHAR\)",
    "GROUP_CONCAT SEPARATOR": r"GROUP_CONCAT\([^)]* ORDER BY [^)]* SEPARATOR '",
    "JSON_ARRAYAGG(JSON_OBJECT)": r"JSON_ARRAYAGG\(JSON_OBJECT\(",
    "JSON float": r"JSON_OBJECT\('lat', CAST",
    "UNION ORDER BY text": r"\nUNION\n.*\nORDER BY code",
    "accented literal": r"= 'KÖLN'",
    "any-case literal, collation mariadb": r"g\.country = 'Germany' AND",
}


def spec(case: Path) -> dict[str, object]:
    data = yaml.safe_load((case / "spec.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_corpus_covers_every_named_construct() -> None:
    assert len(BUILDS) + len(REFUSED) >= 30 and len(BUILDS) >= 20 and len(REFUSED) >= 10
    sql = {c.name: str(spec(c)["sql"]) for c in BUILDS + REFUSED}
    missing = [name for name, pattern in CONSTRUCTS.items() if not any(re.search(pattern, s, re.M) for s in sql.values())]
    assert not missing, f"no case shows: {missing}"


def test_each_case_is_named_after_its_folder() -> None:
    assert [spec(c)["name"] for c in BUILDS + REFUSED + WORKSHOP] == [c.name for c in BUILDS + REFUSED + WORKSHOP]
    assert not {c.name for c in BUILDS} & {c.name for c in REFUSED}


# ------------------------------------------------------------------ refused


@pytest.mark.parametrize("case", REFUSED, ids=[c.name for c in REFUSED])
def test_a_refused_case_fails_the_build_with_its_stderr(case: Path) -> None:
    status, err, written = build_stderr(case)
    assert (status, written) == (2, []), err
    assert err == (case / "stderr.txt").read_text(encoding="utf-8"), "python -m tests.corpus.regen, then review the diff"
    first = err.splitlines()[0]
    head = re.match(rf"refused/{case.name}/spec\.yaml:(\d+):(\d+): error\[(FG\d\d\d)\]: ", first)
    assert head, first
    line = int(head[1])
    assert line >= 4, "the position points into the SQL, not at the top of the file"
    # what is wrong, then how to write it portably
    assert re.search(
        r"[:;] (use|write|compare|compute|drop|return|give|add|rename|sort|pass|format|change|start|take|order|select|filter|keep)\b|, or ", first
    ), first


# ------------------------------------------------------------------- builds


@pytest.mark.parametrize("case", BUILDS, ids=[c.name for c in BUILDS])
def test_a_built_case_holds_its_sql_for_each_dialect(case: Path) -> None:
    assert held_sql(case) == (case / "sql.txt").read_text(encoding="utf-8"), "python -m tests.corpus.regen, then review the diff"
    assert spec(case).get("examples"), "a built case needs examples that find rows in the tiny data"


def test_verify_runs_the_accessor_the_build_emits_from_memory() -> None:
    case = CORPUS / "builds" / "text_max"
    [module] = built_modules(case, SCHEMA)
    assert module.QUERY.name == "text_max" and module.EXAMPLES == ({},)
    assert "".join(f"-- {d}\n{module.SQL[d]}\n" for d in ("mysql", "postgres", "sqlite")) == held_sql(case)
    assert built_modules(case, SCHEMA) == [module]  # one module per spec version, reused


def test_every_built_case_is_accepted_by_the_three_engines() -> None:
    """What the build proves (EXPLAIN on an empty schema), for every case at once."""
    for dialect in SERVERS:
        require_server(dialect)
    queries = [q for case in BUILDS + WORKSHOP_BUILT for q in load_project(case, SCHEMA)[1]]
    proof = Proof(("mysql://root@127.0.0.1:3306", "postgresql://postgres@127.0.0.1:5432"))
    prove(held_statements(queries), load_catalog(SCHEMA), proof)
    assert proof.report[0].startswith(f"checked {len(BUILDS) + len(WORKSHOP_BUILT)} statement(s) by EXPLAIN on SQLite")


@pytest.fixture(scope="module")
def corpus_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """MariaDB, PostgreSQL and SQLite, each loaded with ``tiny`` for this session."""
    for dialect in SERVERS:
        require_server(dialect)
    loaded: list[str] = []
    try:
        for url in [*SERVERS.values(), f"sqlite:///{tmp_path_factory.mktemp('corpus') / 'corpus.sqlite3'}"]:
            loaded.append(url)
            load(url, "tiny", progress=False)
        yield loaded
    finally:
        for dialect, url in SERVERS.items():
            if url in loaded:
                _drop(dialect, NAME)


@pytest.mark.parametrize("case", BUILDS, ids=[c.name for c in BUILDS])
def test_a_built_case_returns_equal_rows_on_all_three(case: Path, corpus_urls: list[str], valkey_server: object) -> None:  # noqa: F811
    outcomes = verify(corpus_urls, case, cache_url(valkey_server), modules=built_modules(case, SCHEMA), schema=SCHEMA)
    assert outcomes, "no example ran"
    assert all(o.equal for o in outcomes), render(outcomes)
    empty = [o.example for o in outcomes if min(o.rows.values()) == 0]
    assert not empty, f"examples that find no row, so compare nothing: {empty}\n{render(outcomes)}"
    assert {tuple(sorted(o.rows)) for o in outcomes} == {("mysql", "postgres", "sqlite")}


# ----------------------------------------------------------------- workshop


@pytest.mark.parametrize("case", WORKSHOP, ids=[c.name for c in WORKSHOP])
def test_a_workshop_statement_as_written_builds_or_is_refused_as_recorded(case: Path) -> None:
    status, err, written = build_stderr(case)
    if (case / "stderr.txt").is_file():
        assert (status, written) == (2, []), err
        assert err == (case / "stderr.txt").read_text(encoding="utf-8"), "python -m tests.corpus.regen, then review the diff"
    else:
        assert status == 0, err
        assert held_sql(case) == (case / "sql.txt").read_text(encoding="utf-8"), "python -m tests.corpus.regen, then review the diff"


@pytest.mark.parametrize("case", [c for c in WORKSHOP_BUILT if spec(c).get("kind") != "write"], ids=lambda c: c.name)
def test_a_built_workshop_statement_returns_equal_rows_on_all_three(case: Path, corpus_urls: list[str], valkey_server: object) -> None:  # noqa: F811
    outcomes = verify(corpus_urls, case, cache_url(valkey_server), modules=built_modules(case, SCHEMA), schema=SCHEMA)
    assert outcomes and all(o.equal for o in outcomes), render(outcomes)


def test_the_workshop_statements_are_all_here() -> None:
    written = re.findall(r"^-- (s\d\d_\w+) \(", (CORPUS / "workshop" / "README.md").read_text(encoding="utf-8"), re.M)
    assert [c.name for c in WORKSHOP] == written and len(WORKSHOP) == 15


def test_the_corpus_folder_is_where_the_tests_look() -> None:
    assert SCHEMA.resolve() == (CORPUS.parents[1] / "specs" / "schema.sql").resolve()


# ------------------------------------------------------------------- verify


def _broken_on_postgres(case: str) -> SimpleNamespace:
    """A built case whose PostgreSQL SQL the server refuses (as a spec that built and then failed would be)."""
    [module] = built_modules(CORPUS / "builds" / case, SCHEMA)
    query = copy.copy(module.QUERY)
    query.sql = {**query.sql, "postgres": query.sql["postgres"].replace("SELECT", "SELECT nope_nothing,", 1)}
    return SimpleNamespace(QUERY=query, EXAMPLES=module.EXAMPLES)


def test_verify_reports_a_database_that_fails_and_goes_on(corpus_urls: list[str], valkey_server: object) -> None:  # noqa: F811
    broken = _broken_on_postgres("text_max")
    [good] = built_modules(CORPUS / "builds" / "order_by_null", SCHEMA)
    outcomes = verify(corpus_urls, CORPUS / "builds" / "text_max", cache_url(valkey_server), modules=[broken, good], schema=SCHEMA)
    assert [(o.spec, o.status) for o in outcomes] == [("text_max", "failed"), ("order_by_null", "equal")]
    assert outcomes[0].rows == {"mysql": 238, "sqlite": 238}
    assert "failed on postgres (postgresql://postgres@127.0.0.1:5432/flughafen_corpus_" in outcomes[0].detail
    assert 'column "nope_nothing" does not exist' in outcomes[0].detail
    shown = render(outcomes)
    assert "| FAILED " in shown and "| equal " in shown and "text_max () failed:" in shown


def test_the_verify_command_reports_every_spec_and_exits_1(
    corpus_urls: list[str],
    valkey_server: object,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    import generator.commands.verify as command

    for case in ("text_max", "order_by_null"):
        (tmp_path / f"{case}.yaml").write_text((CORPUS / "builds" / case / "spec.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "schema.sql").write_text(SCHEMA.read_text(encoding="utf-8"), encoding="utf-8")
    [good] = built_modules(CORPUS / "builds" / "order_by_null", SCHEMA)
    monkeypatch.setattr(command, "built_modules", lambda specs: [_broken_on_postgres("text_max"), good])
    monkeypatch.setenv("FLUGHAFEN_CACHE_URL", cache_url(valkey_server))
    assert main(["verify", str(tmp_path), "--databases", *corpus_urls]) == 1
    out, err = capsys.readouterr()
    assert "text_max" in out and "order_by_null" in out and "nope_nothing" in out
    assert err.strip().splitlines()[-1] == "1 equal, 0 different, 1 failed on a database"
