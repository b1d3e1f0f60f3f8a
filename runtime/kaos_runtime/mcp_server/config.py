"""The MCP tool-server runtime's settings, read once from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kaos_contract import env as contract

from .errors import StartupError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
RESOLV_CONF = Path("/etc/resolv.conf")
#: A Host pattern: a DNS name, an IPv4 or IPv6 address, with `*` wildcards.
_HOST_PATTERN = re.compile(r"^(\*|[A-Za-z0-9*_]([A-Za-z0-9*_.\-]*)|\[?[0-9A-Fa-f:.]+\]?)$")
_ORIGIN_PATTERN = re.compile(r"^(\*|[a-z][a-z0-9+.\-]*://[^/\s]+)$")


@dataclass(frozen=True)
class ServerConfig:
    """Where the tools come from and how they are served."""

    tools_source: str | None
    package: str | None
    name: str
    host: str = "0.0.0.0"
    port: int = contract.MCP_PORT_DEFAULT
    path: str = contract.MCP_PATH
    log_level: str = "INFO"
    access_log: bool = False
    #: Stateless streamable HTTP: any replica can answer any request (no session affinity).
    stateless: bool = True
    #: Host header values answered, besides loopback and the address a request came in on.
    allowed_hosts: tuple[str, ...] = ()
    #: Browser origins answered besides the server's own (Origin matching Host).
    allowed_origins: tuple[str, ...] = ()
    #: How long a request's headers may take to arrive (a client trickling them would hold
    #: a connection, and a file descriptor, for ever).
    request_read_timeout: float = 30.0


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = (environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (0 < value < float("inf")):
        raise StartupError(f"{name} must be a positive number of seconds, not {raw!r}")
    return value


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise StartupError(f"{name}: expected true or false, got {raw!r}")


def _port(environ: Mapping[str, str]) -> int:
    raw = environ.get(contract.MCP_PORT, "").strip()
    if not raw:
        return contract.MCP_PORT_DEFAULT
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise StartupError(f"{contract.MCP_PORT}: expected a port number 1-65535, got {raw!r}")
    return int(raw)


def _log_level(environ: Mapping[str, str]) -> str:
    name = contract.MCP_LOG_LEVEL if environ.get(contract.MCP_LOG_LEVEL) else "LOG_LEVEL"
    raw = environ.get(name, "").strip() or "INFO"
    level = raw.upper()
    if level not in _LEVELS:
        raise StartupError(f"{name}: expected one of {', '.join(_LEVELS)}, got {raw!r}")
    return level


def _csv(environ: Mapping[str, str], name: str, pattern: re.Pattern[str], what: str) -> list[str]:
    items = contract.split_csv(environ.get(name))
    for item in items:
        if not pattern.match(item):
            raise StartupError(f"{name}: expected {what}, got {item!r}")
    return items


def cluster_dns(resolv_conf: str) -> tuple[str | None, str | None]:
    """(namespace, cluster domain) from a pod's DNS search list, which Kubernetes writes as
    `<namespace>.svc.<domain> svc.<domain> <domain>`; (None, None) outside a cluster."""
    for line in resolv_conf.splitlines():
        fields = line.split()
        if fields and fields[0] == "search":
            for domain in fields[1:]:
                namespace, sep, rest = domain.partition(".svc.")
                if sep and namespace and rest:
                    return namespace, rest
    return None, None


def service_hosts(service: str, namespace: str | None, domain: str | None) -> list[str]:
    """The names a Service is reached by from inside the cluster."""
    if not namespace:
        return [service]
    names = [service, f"{service}.{namespace}", f"{service}.{namespace}.svc"]
    return [*names, f"{service}.{namespace}.svc.{domain or 'cluster.local'}"]


#: A Deployment's pod name: `<deployment>-<pod-template-hash>-<5 random characters>`, both
#: suffixes from the API server's "safe" alphabet (no vowels, no 0/1/3).
_DEPLOYMENT_POD = re.compile(
    r"^(?P<deployment>[a-z0-9][-a-z0-9]*)-[bcdfghjklmnpqrstvwxz2456789]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}$"
)


def deployment_of_pod(pod_name: str) -> str | None:
    """The Deployment that named this pod, or None. Under the KAOS operator (which sets no
    MCP_SERVICE_NAME) the Service has the Deployment's name (`mcpserver-<name>`), so this
    keeps requests by Service name working there. A name the API server had to shorten
    (Deployment names over ~47 characters) does not match: set MCP_SERVICE_NAME then."""
    match = _DEPLOYMENT_POD.match(pod_name.strip())
    return match["deployment"] if match else None


def _allowed_hosts(environ: Mapping[str, str], resolv_conf: str) -> tuple[str, ...]:
    extra = _csv(environ, contract.MCP_ALLOWED_HOSTS, _HOST_PATTERN, "host names")
    namespace, domain = cluster_dns(resolv_conf)
    service = (environ.get(contract.MCP_SERVICE_NAME) or "").strip()
    if not service and namespace:  # in a cluster, without kaosgen's env: the pod's name
        service = deployment_of_pod(environ.get("HOSTNAME") or "") or ""
    if not service:
        return tuple(extra)
    namespace = (environ.get(contract.POD_NAMESPACE) or "").strip() or namespace
    return tuple(dict.fromkeys([*service_hosts(service, namespace, domain), *extra]))


def _read_resolv_conf() -> str:
    try:
        return RESOLV_CONF.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def load_config(
    environ: Mapping[str, str] | None = None, resolv_conf: str | None = None
) -> ServerConfig:
    """Read and check the environment; raise `StartupError` naming the bad variable.

    `resolv_conf` (the pod's /etc/resolv.conf by default) gives the cluster's DNS domain.
    """
    environ = os.environ if environ is None else environ
    resolv_conf = _read_resolv_conf() if resolv_conf is None else resolv_conf
    source = environ.get(contract.MCP_TOOLS_STRING)
    package = (environ.get(contract.MCP_PACKAGE) or "").strip() or None
    if source is not None and package:
        raise StartupError(
            f"set only one of {contract.MCP_TOOLS_STRING} and {contract.MCP_PACKAGE}, not both"
        )
    if source is None and not package:
        raise StartupError(
            f"no tools: set {contract.MCP_TOOLS_STRING} (Python source) "
            f"or {contract.MCP_PACKAGE} (an installed package exposing a FastMCP server)"
        )
    default_name = package or "kaos-mcp-server"
    return ServerConfig(
        tools_source=source,
        package=package,
        name=(environ.get(contract.MCP_SERVER_NAME) or "").strip() or default_name,
        host=(environ.get(contract.MCP_HOST) or "").strip() or "0.0.0.0",
        port=_port(environ),
        log_level=_log_level(environ),
        access_log=_bool(environ, contract.MCP_ACCESS_LOG, False),
        stateless=_bool(environ, contract.MCP_STATELESS_HTTP, True),
        allowed_hosts=_allowed_hosts(environ, resolv_conf),
        allowed_origins=tuple(
            _csv(
                environ, contract.MCP_ALLOWED_ORIGINS, _ORIGIN_PATTERN, "origins like https://host"
            )
        ),
        request_read_timeout=_seconds(environ, contract.MCP_REQUEST_READ_TIMEOUT_SECONDS, 30.0),
    )
