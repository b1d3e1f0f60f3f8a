"""NetworkPolicy egress rules: DNS, the cluster, and the world without the metadata service.

Every cloud serves node (or workload identity) credentials from a metadata address the
pods can reach unless a policy stops them: a tool that runs a URL fetch could otherwise
hand out the node's cloud credentials. Rules that let pods reach "anywhere" (an MCP
server's or ModelAPI's default egress, an agent's OTLP and external Redis ports) leave
those addresses out; `Egress.metadata_server` puts them back for workload identity.

Some CNIs do not match pod IPs with `ipBlock`, so traffic inside the cluster has its own
rule (every pod of every namespace) rather than relying on 0.0.0.0/0.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

from kaosgen.models.egress import Egress
from kaosgen.models.project import Project

#: Where clouds serve instance metadata and identity tokens: link-local 169.254.0.0/16
#: (AWS, GCP, Azure, OCI, DigitalOcean at 169.254.169.254; GKE 169.254.169.252; ECS
#: 169.254.170.2; EKS Pod Identity 169.254.170.23), Alibaba Cloud 100.100.100.200, the
#: Azure WireServer 168.63.129.16, and AWS's IPv6 IMDS and Pod Identity in fd00:ec2::/32,
#: with IPv6 link-local. Loopback too: GKE without Dataplane V2 redirects metadata requests
#: to the node's 127.0.0.1:988, which is what a policy then sees (a pod's own loopback
#: never passes a policy, so nothing else is lost).
METADATA_NETWORKS = (
    "127.0.0.0/8",
    "169.254.0.0/16",
    "100.100.100.200/32",
    "168.63.129.16/32",
    "::1/128",
    "fd00:ec2::23/128",
    "fd00:ec2::254/128",
    "fe80::/10",
)
#: NodeLocal DNSCache's link-local address (inside the range above, allowed for DNS only).
NODELOCAL_DNS = "169.254.20.10/32"
_WORLD = ("0.0.0.0/0", "::/0")
_DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def dns(project: Project) -> dict[str, Any]:
    """DNS: the cluster's DNS pods, and NodeLocal DNSCache where the nodes run it."""
    cluster_dns = {
        "namespaceSelector": {
            "matchLabels": {"kubernetes.io/metadata.name": project.security.dns_namespace}
        },
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }
    return {"to": [cluster_dns, {"ipBlock": {"cidr": NODELOCAL_DNS}}], "ports": _DNS_PORTS}


#: Every pod of every namespace.
IN_CLUSTER = {"namespaceSelector": {}}


def ip_block(cidr: str, *, metadata: bool = False) -> dict[str, Any]:
    """An ipBlock for `cidr` without the metadata networks inside it (unless `metadata`).
    A network inside a metadata network is not cut here: see `within_metadata`."""
    block: dict[str, Any] = {"cidr": cidr}
    if not metadata:
        inside = _metadata_inside(cidr)
        if inside:
            block["except"] = list(inside)
    return {"ipBlock": block}


@functools.lru_cache(maxsize=1024)
def _metadata_inside(cidr: str) -> tuple[str, ...]:
    """The metadata networks inside `cidr` (once per CIDR: every workload of every
    environment asks for 0.0.0.0/0 and ::/0, and ipaddress is slow)."""
    network = ipaddress.ip_network(cidr)
    return tuple(
        str(m)
        for m in map(ipaddress.ip_network, METADATA_NETWORKS)
        if m.version == network.version and m != network and m.subnet_of(network)  # type: ignore[arg-type]
    )


@functools.lru_cache(maxsize=1024)
def within_metadata(cidr: str) -> bool:
    """Whether every address of `cidr` is a metadata address (an allow entry that the
    default leaves out entirely)."""
    network = ipaddress.ip_network(cidr)
    return any(
        m.version == network.version and network.subnet_of(m)  # type: ignore[arg-type]
        for m in map(ipaddress.ip_network, METADATA_NETWORKS)
    )


def anywhere(*, metadata: bool = False) -> list[dict[str, Any]]:
    """Peers for "any address": every pod, and every IP but the metadata networks."""
    return [dict(IN_CLUSTER), *(ip_block(c, metadata=metadata) for c in _WORLD)]


def _tcp(ports: list[int]) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": p} for p in ports]


def open_egress(project: Project, settings: Egress) -> list[dict[str, Any]]:
    """An MCP server's or ModelAPI's egress: DNS, the cluster, and outside it anywhere but
    the metadata service (or only `settings.allow`)."""
    rules = [dns(project), {"to": [dict(IN_CLUSTER)]}]
    if settings.allow is None:
        rules.append({"to": [ip_block(c, metadata=settings.metadata_server) for c in _WORLD]})
        return rules
    for destination in settings.allow:
        if within_metadata(destination.cidr) and not settings.metadata_server:
            continue  # all metadata: the check pass says so
        rule: dict[str, Any] = {
            "to": [ip_block(destination.cidr, metadata=settings.metadata_server)]
        }
        if destination.ports:
            rule["ports"] = _tcp(destination.ports)
        rules.append(rule)
    if settings.metadata_server:
        rules.append({"to": [{"ipBlock": {"cidr": c}} for c in METADATA_NETWORKS]})
    return rules
