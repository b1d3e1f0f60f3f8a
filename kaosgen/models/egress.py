"""kaosgen.yaml: where MCP servers and ModelAPIs may connect (their NetworkPolicy egress).

Tool code and model servers call out to arbitrary places, so by default they may reach
anything except the cloud metadata service, which hands out the node's (or a workload
identity's) credentials. `security.egress` sets the project's default and
`workloads.<ref>.egress` one workload's, per environment too.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from kaosgen.models.common import KaosModel, Port


def _cidr(value: str) -> str:
    """An IPv4 or IPv6 network, written as the API server writes it (host bits zero)."""
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise PydanticCustomError(
            "cidr",
            "not an IP network; write an address with its prefix length, e.g. "
            "203.0.113.0/24 or 2001:db8::/32",
        ) from None
    if str(network) != value:
        raise PydanticCustomError(
            "cidr",
            "write the network as {canonical} (host bits zero, the form the API server keeps)",
            {"canonical": str(network)},
        )
    return value


#: An IP network in CIDR notation.
Cidr = Annotated[
    str,
    AfterValidator(_cidr),
    Field(max_length=64, description="An IP network, e.g. 203.0.113.0/24 or 2001:db8::/32."),
]


class EgressDestination(KaosModel):
    """Addresses outside the cluster a workload may connect to."""

    cidr: Cidr = Field(description="An IP network, e.g. 203.0.113.0/24 or 2001:db8::/32.")
    ports: list[Port] = Field(
        default_factory=list, description="TCP ports (every port when empty)."
    )


class Egress(KaosModel):
    """Where an MCP server's or ModelAPI's pods may connect, besides DNS and the cluster."""

    metadata_server: bool = Field(
        False,
        description="Let the pods reach the cloud metadata service (169.254.0.0/16 with "
        "169.254.169.254, fd00:ec2::254, 100.100.100.200, 168.63.129.16, and loopback, "
        "where GKE redirects it): needed by "
        "workload identity (GKE Workload Identity, EKS Pod Identity, Azure managed "
        "identity), which gets its tokens there. Off: tool code cannot steal the node's "
        "credentials. Turn it on for the one workload that needs it "
        "(workloads.<ref>.egress).",
    )
    allow: list[EgressDestination] | None = Field(
        None,
        description="Addresses outside the cluster the pods may reach (e.g. the model "
        "provider's or a tool's API). Unset: anywhere but the metadata service. DNS and "
        "pods in the cluster stay reachable either way.",
    )
