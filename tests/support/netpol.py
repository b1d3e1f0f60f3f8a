"""Which connections a set of NetworkPolicies lets a pod open (or accept): the Kubernetes semantics,
small enough to read, so tests assert what a CNI would enforce (no cluster here).

A pod is isolated for egress when a policy with `Egress` in its policyTypes selects it;
an isolated pod may open a connection when any rule of any such policy matches both the
destination (`to`, absent or empty: anywhere) and the port (`ports`, absent: any). An
ipBlock matches addresses in `cidr` and in none of `except`; a pod peer matches pods by
namespace (the policy's own without a namespaceSelector) and labels.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def namespace_labels(self) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": self.namespace}


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A LabelSelector: {} selects everything."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def _in_block(block: dict[str, Any], address: str) -> bool:
    ip = ipaddress.ip_address(address)
    cidr = ipaddress.ip_network(block["cidr"])
    if ip.version != cidr.version or ip not in cidr:
        return False
    return not any(
        ip in ipaddress.ip_network(e)
        for e in block.get("except") or []
        if ipaddress.ip_network(e).version == ip.version
    )


def _peer_matches(peer: dict[str, Any], policy_ns: str, dest: Pod | str) -> bool:
    if "ipBlock" in peer:
        return isinstance(dest, str) and _in_block(peer["ipBlock"], dest)
    if not isinstance(dest, Pod):
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], dest.namespace_labels):
            return False
    elif dest.namespace != policy_ns:
        return False
    return "podSelector" not in peer or selects(peer["podSelector"], dest.labels)


def _port_matches(ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        low = entry.get("port")
        high = entry.get("endPort", low)
        if low is None or low <= port <= high:
            return True
    return False


def egress_allowed(
    policies: list[dict[str, Any]],
    source: Pod,
    dest: Pod | str,
    port: int,
    protocol: str = "TCP",
) -> bool:
    """Whether `source` may connect to `dest` (a pod, or an IP address) on `port`."""
    isolating = [
        p
        for p in policies
        if p["metadata"].get("namespace", "default") == source.namespace
        and "Egress" in (p["spec"].get("policyTypes") or [])
        and selects(p["spec"].get("podSelector"), source.labels)
    ]
    if not isolating:
        return True
    for policy in isolating:
        policy_ns = policy["metadata"].get("namespace", "default")
        for rule in policy["spec"].get("egress") or []:
            peers = rule.get("to") or []
            if not _port_matches(rule.get("ports"), port, protocol):
                continue
            if not peers or any(_peer_matches(p, policy_ns, dest) for p in peers):
                return True
    return False


def ingress_allowed(
    policies: list[dict[str, Any]], dest: Pod, source: Pod | str, port: int, protocol: str = "TCP"
) -> bool:
    """Whether `source` (a pod, or an IP address) may connect to `dest` on `port`."""
    isolating = [
        p
        for p in policies
        if p["metadata"].get("namespace", "default") == dest.namespace
        and "Ingress" in (p["spec"].get("policyTypes") or ["Ingress"])
        and selects(p["spec"].get("podSelector"), dest.labels)
    ]
    if not isolating:
        return True
    for policy in isolating:
        policy_ns = policy["metadata"].get("namespace", "default")
        for rule in policy["spec"].get("ingress") or []:
            peers = rule.get("from") or []
            if not _port_matches(rule.get("ports"), port, protocol):
                continue
            if not peers or any(_peer_matches(p, policy_ns, source) for p in peers):
                return True
    return False


def pods(objects: list[dict[str, Any]]) -> dict[str, Pod]:
    """Each Deployment's pods, by Deployment name."""
    return {
        o["metadata"]["name"]: Pod(
            o["metadata"].get("namespace", "default"),
            dict(o["spec"]["template"]["metadata"].get("labels") or {}),
        )
        for o in objects
        if o["kind"] == "Deployment"
    }
