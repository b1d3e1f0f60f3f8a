"""The agent's HTTP paths and the contract's grouping of them, kept in step.

The compiler routes `AGENT_PUBLIC_PATHS` (and the reserved A2A paths) through the gateway
and a private group only when a project asks; here every path the runtime serves must fall
in exactly one group, so a new endpoint cannot become public, or stay unreachable, by
accident.
"""

from __future__ import annotations

from kaos_contract import env as contract
from kaos_runtime.app import create_app
from kaos_runtime.settings import load_settings
from starlette.routing import Route


def _served() -> list[tuple[str, set[str]]]:
    settings = load_settings(
        {"AGENT_NAME": "a", "MODEL_API_URL": "http://model:8000", "MODEL_NAME": "m"}
    )
    app = create_app(settings)
    return [(r.path, set(r.methods or ())) for r in app.routes if isinstance(r, Route)]


def _covers(spec: tuple[str, str, str | None], path: str, methods: set[str]) -> bool:
    kind, value, method = spec
    if method is not None and method not in methods:
        return False
    if kind == "Exact":
        return path == value
    return path == value or path.startswith(value.rstrip("/") + "/")


def test_every_served_path_is_public_or_in_one_private_group() -> None:
    groups = {
        "public": contract.AGENT_PUBLIC_PATHS,
        "a2a": contract.AGENT_A2A_PATHS,
        **contract.AGENT_PRIVATE_PATHS,
    }
    served = _served()
    assert served
    for path, methods in served:
        found = [g for g, specs in groups.items() if any(_covers(s, path, methods) for s in specs)]
        assert len(found) == 1, (path, found)


def test_every_public_path_is_served_and_memory_and_metrics_are_private() -> None:
    served = _served()
    for spec in contract.AGENT_PUBLIC_PATHS:
        assert any(_covers(spec, path, methods) for path, methods in served), spec
    public = [*contract.AGENT_PUBLIC_PATHS, *contract.AGENT_A2A_PATHS]
    for path in ("/memory/events", "/memory/sessions", "/metrics", "/health", "/ready"):
        assert not any(_covers(spec, path, {"GET", "POST"}) for spec in public), path
