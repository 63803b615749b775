"""Which Valkey error replies mean "the cluster is changing" (a slot moved, a failover): read by the
parsers valkey-py uses on one server and on a cluster, which turn most of them into exceptions of
their own whose message lacks the reply's first word."""

from __future__ import annotations

import pytest
from valkey._parsers.base import BaseParser
from valkey.cluster import ClusterParser

from flughafen.cluster import redirected, topology_changing
from flughafen.worker import transient

PARSERS = [BaseParser, ClusterParser]


def _error(parser: type[BaseParser], reply: str) -> Exception:
    return parser.__new__(parser).parse_error(reply)  # type: ignore[no-any-return, no-untyped-call]


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("reply", ["MOVED 3999 127.0.0.1:6381", "ASK 3999 127.0.0.1:6381"])
def test_a_redirection_is_one_whichever_parser_read_it(parser: type[BaseParser], reply: str) -> None:
    error = _error(parser, reply)
    assert redirected(error) and not topology_changing(error)
    assert transient(error)  # the worker retries the round, the slot map reloaded


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize(
    "reply",
    [
        "CLUSTERDOWN The cluster is down",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "READONLY You can't write against a read only replica.",
        "MASTERDOWN Link with MASTER is down",
    ],
)
def test_a_failover_or_a_slot_half_moved_is_a_change_of_topology(parser: type[BaseParser], reply: str) -> None:
    error = _error(parser, reply)
    assert topology_changing(error) and not redirected(error)
    assert transient(error)


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize(
    "reply", ["ERR unknown command 'FOO'", "WRONGTYPE Operation against a key holding the wrong kind of value", "ERR Error running script"]
)
def test_other_errors_are_neither(parser: type[BaseParser], reply: str) -> None:
    error = _error(parser, reply)
    assert not redirected(error) and not topology_changing(error)
    assert not transient(error)  # the worker stops and says so
