"""flughafen-gen's command line: ``main(argv) -> exit code``.

Exit codes: 0 done; 1 ``build --check`` found stale files (or a verification
failed); 2 errors in the specs or the command line; 3 the environment failed
(a database, Valkey, a file or a package), told in one line (``--debug`` shows
the traceback): a configuration that cannot work, a missing extra (the line
names it) or a package not built yet among them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from flughafen.config import ConfigError
from flughafen.extras import MissingExtra, require
from flughafen.settings import load_settings
from generator.accessors import NotBuilt
from generator.commands import EXIT_ENVIRONMENT, EXIT_ERRORS, print_diagnostics
from generator.diagnostics import SpecError

DESCRIPTION = "Declarative query-to-cache code generator: YAML specs in, typed cached accessors out."
EPILOG = """exit codes:
  0  done
  1  build --check found stale files, check found lint findings, verify found a difference,
     cache status found no server running, or cache stop refused to lose queued writes
  2  errors in the specs or on the command line (each with file, line and column)
  3  the environment failed: a database, Valkey, a file or a package (--debug for the traceback)

configuration: [tool.flughafen] in pyproject.toml, or flughafen.toml; FLUGHAFEN_DATABASE_URL
and FLUGHAFEN_CACHE_URL override it."""


def _build_tools(command: str) -> None:
    """The build's own packages, or one line naming the extra that installs them (MissingExtra)."""
    for module in ("jinja2", "sqlglot", "yaml", "black"):
        require(module, f"flughafen-gen {command}")


def _specs(args: argparse.Namespace) -> Path:
    return Path(args.specs) if args.specs else load_settings().specs


def cmd_build(args: argparse.Namespace) -> int:
    _build_tools("build")
    from generator.commands.build import main_build

    return main_build(args.specs, args.out, args.schema, args.check, args.offline)


def cmd_show(args: argparse.Namespace) -> int:
    _build_tools("show")
    from generator.commands.show import show

    return show(args.name, args.dialect, _specs(args))


def cmd_db(args: argparse.Namespace, rest: list[str]) -> int:
    _build_tools("db")
    from generator.dataset.cli import main_db_load

    return main_db_load(rest)


def cmd_demo(args: argparse.Namespace) -> int:
    from generator.commands.demo import run_demo

    return run_demo(database_url=args.database, cache_url=args.cache, settings=load_settings())


def cmd_check(args: argparse.Namespace) -> int:
    _build_tools("check")
    from generator.commands.check import main_check

    return main_check(_specs(args))


def cmd_verify(args: argparse.Namespace) -> int:
    _build_tools("verify")
    from generator.commands.verify import run_verify

    return run_verify(args.databases, args.load, _specs(args))


def cmd_explain(args: argparse.Namespace) -> int:
    from generator.commands.explain import explain

    return explain(args.name, args.database, load_settings())


def cmd_worker(args: argparse.Namespace) -> int:
    from generator.commands.worker import main_worker

    return main_worker(args.database, args.cache, args.consumer, args.batch, args.once, args.log_level)


def cmd_cache(args: argparse.Namespace) -> int:
    from generator.commands.cache import main_cache

    return main_cache(args.action, args.project, args.discard_queued, args.cache)


def cmd_stats(args: argparse.Namespace) -> int:
    from generator.commands.stats import print_stats

    return print_stats(args.database, args.cache, load_settings())


def cmd_warm(args: argparse.Namespace) -> int:
    from generator.commands.warm import main_warm

    return main_warm(args.name, args.params, args.from_query, args.database, args.cache, load_settings())


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="flughafen-gen", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    p.add_argument("--debug", action="store_true", help="show the traceback of an environment error (exit 3)")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="generate accessor modules from specs")
    b.add_argument("specs", nargs="?", default=None, help="directory of *.yaml specs (default: specs in [tool.flughafen], or specs)")
    b.add_argument("--out", default=None, help="output directory (default: out in [tool.flughafen], or the package's folder)")
    b.add_argument("--schema", default=None, help="schema DDL (default: schema in [tool.flughafen], or SPECS/schema.sql)")
    b.add_argument("--check", action="store_true", help="write nothing; exit 1 when the output is stale")
    b.add_argument(
        "--offline",
        action="store_true",
        help="prove each dialect's SQL on SQLite only, not on the servers of test_databases (the build says so)",
    )

    s = sub.add_parser("show", help="print the SQL held for one dialect")
    s.add_argument("name")
    s.add_argument("--dialect", choices=["mysql", "postgres", "sqlite"], default="mysql")
    s.add_argument("--specs", default=None)

    sub.add_parser("db", help="database commands: db load --scale tiny|small [--database URL]", add_help=False)

    d = sub.add_parser("demo", help="call every accessor cold and warm (a database without tables: made and seeded first)")
    d.add_argument("--database", default=None, help="database URL (default: configuration)")
    d.add_argument("--cache", default=None, help="cache URL (default: configuration)")
    c = sub.add_parser("check", help="lint the specs: sargability, collation, LIMIT order, returns, triggers")
    c.add_argument("specs", nargs="?", default=None)

    v = sub.add_parser("verify", help="run every example on several databases and compare the typed results")
    v.add_argument("specs", nargs="?", default=None)
    v.add_argument("--databases", nargs="+", default=None, help="database URLs (default: local MariaDB, PostgreSQL and the SQLite file)")
    v.add_argument("--load", choices=["tiny", "small"], default=None, help="load this data set first where missing")

    e = sub.add_parser("explain", help="the plan of one spec's query on a database")
    e.add_argument("name")
    e.add_argument("--database", default=None)

    w = sub.add_parser("worker", help="apply queued write: behind writes")
    w.add_argument("--database", default=None, help="database URL (default: configuration)")
    w.add_argument("--cache", default=None, help="cache URL the application queues on (default: configuration; embedded: the project's server)")
    w.add_argument("--consumer", default="worker-1", help="this worker's name in the queues' consumer group (default: worker-1)")
    w.add_argument("--batch", type=int, default=100, help="writes applied per transaction (default: 100)")
    w.add_argument("--once", action="store_true", help="stop when the queues are empty")
    w.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info", help="log lines, with timestamps, on stderr (default: info)")

    ca = sub.add_parser("cache", help="the project's embedded Valkey: status, or stop it; status of another server or cluster")
    ca.add_argument("action", choices=["status", "stop"], help="status: socket, pid, uptime, memory, keys (exit 1 when not running); stop: stop it")
    ca.add_argument(
        "--cache",
        default=None,
        help="status: the cache URL (default: configuration); a server or cluster other than the embedded one shows its nodes and queues",
    )
    ca.add_argument(
        "--project",
        type=Path,
        default=None,
        help="the project's folder (default: the nearest folder up from here with pyproject.toml or flughafen.toml)",
    )
    ca.add_argument(
        "--discard-queued",
        action="store_true",
        help="stop: stop even when write: behind writes are queued and not applied yet (they are lost)",
    )

    st = sub.add_parser("stats", help="hit rates, keyspace, memory per spec, slow log")
    st.add_argument("--database", default=None, help="database URL (default: configuration)")
    st.add_argument("--cache", default=None, help="cache URL (default: configuration; embedded: the project's server)")

    wa = sub.add_parser("warm", help="fill the cache for many parameter sets, pipelined")
    wa.add_argument("name")
    src = wa.add_mutually_exclusive_group(required=True)
    src.add_argument("--params", type=Path, help="a JSON lines file of parameter objects")
    src.add_argument("--from-query", help="a SELECT whose rows are parameter sets (columns named as params)")
    wa.add_argument("--database", default=None, help="database URL (default: configuration)")
    wa.add_argument("--cache", default=None, help="cache URL (default: configuration; embedded: the project's server)")
    return p


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("flughafen-gen")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["db"] or argv[:2] == ["--debug", "db"]:
        rest = argv[argv.index("db") + 1 :]
        return _guarded(lambda: cmd_db(argparse.Namespace(), rest), debug=argv[0] == "--debug")
    args = parser().parse_args(argv)
    handlers = {
        "build": cmd_build,
        "show": cmd_show,
        "demo": cmd_demo,
        "check": cmd_check,
        "verify": cmd_verify,
        "explain": cmd_explain,
        "worker": cmd_worker,
        "stats": cmd_stats,
        "cache": cmd_cache,
        "warm": cmd_warm,
    }
    return _guarded(lambda: handlers[args.command](args), debug=args.debug)


# Where an exception comes from when it is the environment's failure, not a bug of ours.
_ENVIRONMENT_MODULES = ("valkey", "pymysql", "psycopg", "sqlite3", "flughafen.config", "flughafen.db", "flughafen.embedded", "flughafen.extras")


def environment_error(e: BaseException) -> bool:
    """True for a failure of the environment (a server, a file, a package), which is told in one line."""
    return isinstance(e, OSError) or any(c.__module__.split(".")[0] in _ENVIRONMENT_MODULES or c.__module__ in _ENVIRONMENT_MODULES for c in type(e).__mro__)


def one_line(e: BaseException) -> str:
    """The error as one line a user can act on, with any URL's password hidden.

    >>> one_line(ConnectionRefusedError(111, "Connection refused"))
    'ConnectionRefusedError: [Errno 111] Connection refused'
    """
    from flughafen.config import redact

    text = " ".join(str(e).split()) or type(e).__name__
    words = [redact(w) if "://" in w else w for w in text.split(" ")]
    text = " ".join(words)
    if type(e).__module__.startswith("flughafen"):
        return text
    return f"{type(e).__name__}: {text}"


def _guarded(run: Callable[[], int], debug: bool = False) -> int:
    try:
        return run()
    except SpecError as err:
        print_diagnostics(err.diagnostics)
        n = len(err.diagnostics)
        print(f"{n} error{'s' if n != 1 else ''}; nothing was written", file=sys.stderr)
        return EXIT_ERRORS
    except (ConfigError, MissingExtra, NotBuilt) as err:  # the message says what to do
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        if debug or not environment_error(e):
            raise
        print(f"error: {one_line(e)} (run with --debug for the traceback)", file=sys.stderr)
        return EXIT_ENVIRONMENT


if __name__ == "__main__":
    sys.exit(main())
