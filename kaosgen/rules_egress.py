"""Checks of `security.egress` and `workloads.<ref>.egress`: where MCP servers' and
ModelAPIs' pods may connect. Like every rule, they only report."""

from __future__ import annotations

from typing import Any

from kaosgen import effective
from kaosgen.diagnostics import Diagnostics
from kaosgen.generate.egress import within_metadata
from kaosgen.graph import Graph
from kaosgen.models.egress import Egress
from kaosgen.models.project import Project


def check_egress(graph: Graph, project: Project, diags: Diagnostics, where: Any) -> None:
    """`egress` on an agent does nothing (its egress follows the graph); an allow entry
    that is all metadata addresses is never rendered without metadataServer; egress
    settings without NetworkPolicies do nothing."""
    _allow_entries(project.security.egress, diags, where.first(("security", "egress")))
    for node in graph.workloads():
        for env_name, env in sorted(project.environments.items()):
            entries = [project.workloads.get(node.ref), env.workloads.get(node.ref)]
            if not any(e is not None and e.egress is not None for e in entries):
                continue
            loc = where.workload(env_name, node.ref, "egress")
            if node.kind == "Agent":
                diags.error(
                    "egress-agent",
                    f"egress is for MCP servers and ModelAPIs; agent {node.name!r} may reach "
                    "only its ModelAPI, MCP servers and peers (and DNS, telemetry, Redis)",
                    loc,
                    hint="remove egress from the agent's entry",
                )
                continue
            _allow_entries(effective.egress(project, env, node), diags, loc)
    written = project.security.model_fields_set
    if not project.security.network_policies and "egress" in written:
        diags.warning(
            "egress-no-policies",
            "security.egress has no effect: security.networkPolicies is false (every pod "
            "may connect anywhere, the cloud metadata service too)",
            where.first(("security", "egress")),
        )


def _allow_entries(settings: Egress, diags: Diagnostics, loc: Any) -> None:
    if settings.metadata_server:
        return
    for destination in settings.allow or []:
        if within_metadata(destination.cidr):
            diags.warning(
                "egress-metadata",
                f"egress.allow entry {destination.cidr} lies in the cloud metadata "
                "addresses, which stay blocked: the entry is not rendered",
                loc,
                hint="set egress.metadataServer: true on the workload that needs them",
            )
