"""Credentials given as literal env values: kaosgen writes a `value` into the manifests (and
so into git), so one that looks like a credential is warned about where it is set, as a
pass-through Secret with data is. A `valueFrom.secretKeyRef` is the way to pass one.

A value looks like a credential when its variable is named like one (`*_API_KEY`,
`*_TOKEN`, `*PASSWORD*`, `*SECRET*`, ...; not `*_FILE`/`*_PATH`, which hold a path) or when
the value itself has a well-known credential shape (`sk-...`, `ghp_...`, a URL with a
password).
"""

from __future__ import annotations

import re
from typing import Any

from kaosgen.diagnostics import Diagnostics, Location
from kaosgen.graph import Graph, Workload

_NAME_PARTS = {"TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "CREDENTIALS", "APIKEY"}
_NOT_A_VALUE = ("_FILE", "_PATH", "_DIR", "_HEADER", "_NAME", "_ID")
_VALUE_SHAPES = re.compile(
    r"^(sk-[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|glpat-[\w-]{20,}"
    r"|xox[abprs]-[\w-]{10,}|AKIA[0-9A-Z]{16}|AIza[\w-]{35})$"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|^[a-z][a-z0-9+.-]*://[^/@\s:]*:[^/@\s]+@"
)
HINT = (
    "create a Secret and reference it: valueFrom.secretKeyRef (kaosgen never writes it), "
    "or keep the manifests encrypted (SOPS, Sealed Secrets)"
)


def _named_like_a_credential(name: str) -> bool:
    upper = name.upper()
    if upper.endswith(_NOT_A_VALUE):
        return False
    parts = upper.split("_")
    return (
        bool(_NAME_PARTS & set(parts))
        or upper.endswith(("_KEY", "API_KEY"))
        or ("PRIVATE" in parts and "KEY" in parts)
    )


def looks_like_a_credential(name: str, value: str | None) -> bool:
    """Whether a literal env value is probably a credential (numbers never are)."""
    if not value or not value.strip() or value.strip().isdigit():
        return False
    return _named_like_a_credential(name) or bool(_VALUE_SHAPES.search(value.strip()))


def _pod_spec_env(node: Workload) -> list[tuple[str, Any, Location]]:
    """(name, value, where) of every literal env value in the workload's podSpec containers."""
    found = []
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        for i, container in enumerate((node.pod_spec or {}).get(kind) or []):
            if not isinstance(container, dict):
                continue
            for j, var in enumerate(container.get("env") or []):
                if isinstance(var, dict) and isinstance(var.get("name"), str):
                    path = ("spec", "podSpec", kind, i, "env", j, "name")
                    found.append((var["name"], var.get("value"), node.doc.location(path)))
    return found


def check(graph: Graph, diags: Diagnostics) -> None:
    for node in graph.workloads():
        literals = [(v.name, v.value, node.env_location(v.name)) for v in node.env]
        for name, value, where in [*literals, *_pod_spec_env(node)]:
            if isinstance(value, str) and looks_like_a_credential(name, value):
                diags.warning(
                    "secret-in-env",
                    f"{node.kind} {node.name!r}: {name} looks like a credential, and its "
                    "literal value would be written into the rendered output",
                    where,
                    hint=HINT,
                )
