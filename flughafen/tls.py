"""TLS to Valkey (``valkeys://`` URLs): the server's certificate must be signed by the CA of ``?ca=`` (the
system's CAs without it) and, unless the URL says ``?verify=ca``, name the host connected to: the host of the
URL, a cluster node as the slot map names it (by IP address or name), a primary or replica as the sentinels
name it. Without the name check any certificate the CA signed would pass for any server.

Every connection the runtime opens takes its TLS settings from here: valkey-py's (``tls_kwargs``,
``HostCheckedSSLConnection``) and the async client's own (``context``).
"""

from __future__ import annotations

import ssl
from typing import Any

import valkey
from valkey.sentinel import SentinelManagedConnection

from flughafen.config import CacheUrl

# OpenSSL's verification results for a certificate that names another host, or another IP address.
NAME_MISMATCH = (62, 64)  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH


def tls_kwargs(url: CacheUrl) -> dict[str, Any]:
    """valkey-py's client arguments for ``url``'s TLS (none for a plain ``valkey://`` URL).

    >>> from flughafen.config import parse_cache_url
    >>> tls_kwargs(parse_cache_url("valkeys://cache:6380/0?ca=/etc/ca.crt"))
    {'ssl': True, 'ssl_ca_certs': '/etc/ca.crt', 'ssl_cert_reqs': 'required', 'ssl_check_hostname': True}
    >>> tls_kwargs(parse_cache_url("valkeys://cache:6380/0?verify=ca"))["ssl_check_hostname"]
    False
    """
    if not url.tls:
        return {}
    return {"ssl": True, "ssl_ca_certs": url.ca_file, "ssl_cert_reqs": "required", "ssl_check_hostname": url.verify_hostname}


def connection_class(url: CacheUrl) -> Any:
    """The valkey-py connection class for ``url``: a TLS one takes ``tls_kwargs`` without ``ssl``."""
    return HostCheckedSSLConnection if url.tls else valkey.Connection


def context(ca_file: str | None, check_hostname: bool) -> ssl.SSLContext:
    """The async client's TLS context: the certificate checked against ``ca_file`` and, with ``check_hostname``,
    for the host name connected to (asyncio passes the host as the server name)."""
    made = ssl.create_default_context(cafile=ca_file)
    made.check_hostname = check_hostname
    return made


def mismatch(error: BaseException, host: str, port: int) -> str | None:
    """What to tell the user when ``error`` says the server's certificate names another host than ``host``; None for any other error."""
    if not isinstance(error, ssl.SSLCertVerificationError) or error.verify_code not in NAME_MISMATCH:
        return None
    return (
        f"{host}:{port}: the server's TLS certificate does not match the host {host!r} ({error.verify_message.rstrip('.')}); "
        "connect by a name the certificate lists, or add ?verify=ca to the cache URL to check only the CA"
    )


class HostCheckedSSLConnection(valkey.SSLConnection):
    """valkey-py's TLS connection whose errors say when the certificate names another host; the name is checked
    unless ``ssl_check_hostname=False`` (valkey-py's cluster client does not pass that argument on: it gets this
    class, checking, instead)."""

    def __init__(self, ssl_check_hostname: bool = True, **kwargs: Any):
        super().__init__(ssl_check_hostname=ssl_check_hostname, **kwargs)  # type: ignore[no-untyped-call]

    def _error_message(self, exception: BaseException) -> str:
        return mismatch(exception, self.host, self.port) or super()._error_message(exception)  # type: ignore[no-untyped-call]


def cluster_kwargs(url: CacheUrl) -> dict[str, Any]:
    """valkey-py cluster client arguments for ``url``'s TLS.

    valkey-py's cluster client does not pass ``ssl_check_hostname`` on to its node connections, but it does pass
    a connection class when it is given a seed as a URL: the first seed goes as a plain ``valkey://`` URL (the
    class brings TLS, checking names), the others as ``startup_nodes``.

    >>> from flughafen.config import parse_cache_url
    >>> sorted(cluster_kwargs(parse_cache_url("valkeys+cluster://[::1]:7000,h:7001?ca=ca.crt")).items())[-1]
    ('url', 'valkey://[::1]:7000')
    """
    if not url.tls or not url.verify_hostname:
        return tls_kwargs(url)
    host, port = url.nodes[0]
    seed = f"[{host}]" if ":" in host else host
    return {"url": f"valkey://{seed}:{port}", "connection_class": HostCheckedSSLConnection, "ssl_ca_certs": url.ca_file, "ssl_cert_reqs": "required"}


class SentinelHostCheckedSSLConnection(SentinelManagedConnection, HostCheckedSSLConnection):
    """A connection to the primary the sentinels name, over TLS checked as ``HostCheckedSSLConnection`` (for the host they name)."""


def certificate_refused(error: BaseException) -> bool:
    """Whether ``error`` comes of a server certificate the client refused (a wrong CA, another host's name):
    a setting to fix, whose message the outage log shows."""
    seen: BaseException | None = error
    for _ in range(8):  # the chain of causes: valkey-py wraps the ssl module's error once or twice
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
