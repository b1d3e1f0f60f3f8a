"""Find the MCP server object an installed package exposes (`MCP_PACKAGE`).

Convention, tried in order:

1. `MCP_PACKAGE=module:attribute` names the object exactly (`attribute` may be dotted, or
   a zero-argument factory).
2. Otherwise `MCP_PACKAGE` is a module name, or a distribution name whose import name is
   found through the installed metadata (`mcp-server-foo` -> `mcp_server_foo`), and the
   module's first attribute among `mcp`, `server`, `app` is used, else its
   `create_server()` factory is called.

The object must be a `fastmcp.FastMCP` (served as it is) or an official-SDK
`mcp.server.mcpserver.MCPServer` (served through an in-process fastmcp proxy). Packages
are never installed at run time (clusters are air-gapped): bake them into an image
derived from the runtime image.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import re
from types import ModuleType
from typing import Any

from kaos_contract.env import MCP_PACKAGE

from .errors import StartupError

SERVER_ATTRIBUTES = ("mcp", "server", "app")
FACTORY_NAMES = ("create_server",)
_MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_HINT = "packages are not installed at run time: bake it into an image derived from this one"


def _normalise_distribution(name: str) -> str:
    """PEP 503 normalisation: `My_Pkg.x` and `my-pkg-x` are the same distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _candidate_modules(name: str) -> list[str]:
    """Import names that `name` may stand for, most literal first."""
    candidates = [name] if _MODULE_RE.match(name) else []
    normalised = re.sub(r"[-.]+", "_", name)
    if normalised not in candidates and _MODULE_RE.match(normalised):
        candidates.append(normalised)
    wanted = _normalise_distribution(name)
    for module, distributions in importlib.metadata.packages_distributions().items():
        known = module in candidates or not _MODULE_RE.match(module)
        if not known and any(_normalise_distribution(d) == wanted for d in distributions):
            candidates.append(module)
    return candidates


def _find_spec(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package raises instead of None
        return False


def import_package(name: str) -> ModuleType:
    """Import the module `name` refers to, or raise `StartupError` saying why not."""
    for module in _candidate_modules(name):
        if not _find_spec(module):
            continue
        try:
            return importlib.import_module(module)
        except Exception as exc:
            raise StartupError(
                f"{MCP_PACKAGE}={name}: importing {module!r} failed: {type(exc).__name__}: {exc}"
            ) from None
    raise StartupError(f"{MCP_PACKAGE}={name}: no installed module or distribution; {_HINT}")


def _is_server(obj: Any) -> bool:
    from fastmcp import FastMCP
    from mcp.server.mcpserver import MCPServer

    return isinstance(obj, FastMCP | MCPServer)


def _resolve_attribute(module: ModuleType, dotted: str, spec: str) -> Any:
    obj: Any = module
    for part in dotted.split("."):
        if not hasattr(obj, part):
            raise StartupError(f"{MCP_PACKAGE}={spec}: {module.__name__} has no {dotted!r}")
        obj = getattr(obj, part)
    if not _is_server(obj) and callable(obj):
        obj = _call_factory(obj, spec)
    return obj


def _call_factory(factory: Any, spec: str) -> Any:
    try:
        return factory()
    except Exception as exc:
        raise StartupError(
            f"{MCP_PACKAGE}={spec}: {getattr(factory, '__name__', 'factory')}() failed: "
            f"{type(exc).__name__}: {exc}"
        ) from None


def _discover(module: ModuleType, spec: str) -> Any:
    for attribute in SERVER_ATTRIBUTES:
        obj = getattr(module, attribute, None)
        if obj is not None and _is_server(obj):
            return obj
    for factory in FACTORY_NAMES:
        if callable(getattr(module, factory, None)):
            return _call_factory(getattr(module, factory), spec)
    expected = ", ".join(SERVER_ATTRIBUTES)
    raise StartupError(
        f"{MCP_PACKAGE}={spec}: {module.__name__} exposes no MCP server; expected a FastMCP "
        f"object named one of {expected}, a create_server() factory, or {MCP_PACKAGE}=module:attribute"
    )


def load_package_server(spec: str, name: str | None = None) -> Any:
    """The `fastmcp.FastMCP` to serve for `MCP_PACKAGE=spec`."""
    module_name, _, attribute = spec.partition(":")
    module = import_package(module_name.strip())  # first: a missing package fails fast

    from fastmcp import FastMCP
    from fastmcp.server import create_proxy
    from mcp.server.mcpserver import MCPServer

    obj = (
        _resolve_attribute(module, attribute.strip(), spec)
        if attribute
        else _discover(module, spec)
    )
    if isinstance(obj, FastMCP):
        return obj
    if isinstance(obj, MCPServer):
        return create_proxy(obj, name=name or getattr(obj, "name", None) or module.__name__)
    raise StartupError(
        f"{MCP_PACKAGE}={spec}: got a {type(obj).__name__}, expected a fastmcp.FastMCP "
        "or an mcp.server.mcpserver.MCPServer"
    )
