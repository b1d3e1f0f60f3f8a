"""The entry points installed without the `runtime` extra say so, instead of a traceback.

`pip install kaosgen` installs the compiler and, with it, the `kaos-agent` and
`kaos-mcp-server` scripts; their dependencies (Starlette, uvicorn, fastmcp, ...) come with
`pip install 'kaosgen[runtime]'`. The check is a few `find_spec` calls (no import), so it
costs the image's start-up nothing.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from typing import NoReturn

from kaos_contract.version import DISTRIBUTION

EXTRA = "runtime"
INSTALL = f"pip install '{DISTRIBUTION}[{EXTRA}]'"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_ONLY_EXTRA = re.compile(rf"""^\s*extra\s*==\s*["']{EXTRA}["']\s*$""")


def missing_packages() -> list[str]:
    """The runtime extra's requirements that are not installed (from the package metadata).

    Requirements with other environment markers (uvloop: CPython, not Windows) are left
    out: they are optional where they do not apply, and the stdlib cannot evaluate markers.
    """
    from importlib import metadata

    try:
        requires = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return []
    missing = []
    for requirement in requires:
        spec, _, marker = requirement.partition(";")
        match = _NAME.match(spec)
        if match is None or not _ONLY_EXTRA.match(marker):
            continue
        try:
            metadata.distribution(match.group(1))
        except metadata.PackageNotFoundError:
            missing.append(match.group(1))
    return sorted(set(missing))


def exit_without_extra(prog: str) -> NoReturn:
    missing = missing_packages()
    detail = f" (missing: {', '.join(missing)})" if missing else ""
    print(
        f"{prog}: needs kaosgen's `{EXTRA}` extra, which is not installed{detail}.\n"
        f"{prog}: install it with: {INSTALL}",
        file=sys.stderr,
        flush=True,
    )
    raise SystemExit(2)


def require_runtime_extra(prog: str, modules: tuple[str, ...]) -> None:
    """Exit with a one-line instruction (status 2) when a module the program needs is absent."""
    if not all(importlib.util.find_spec(name) is not None for name in modules):
        exit_without_extra(prog)
