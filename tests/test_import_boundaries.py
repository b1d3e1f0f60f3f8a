"""The compiler and the runtime stay independent: neither imports the other's dependencies.

A pre-commit hook or a CI job installs only the compiler; the agent image installs only
the runtime. Both import the stdlib-only env contract (`kaos_contract`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNTIME_ONLY = ("starlette", "uvicorn", "litellm", "fastmcp", "mcp", "redis", "aiohttp", "httpx")
# click is not here: uvicorn depends on it too.
COMPILER_ONLY = ("kaosgen", "ruamel", "jinja2", "jsonschema", "kubernetes")


def _modules_after(code: str) -> set[str]:
    probe = (
        code
        + "\nimport sys, json\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_a_full_render_imports_no_runtime_dependency(tmp_path: Path) -> None:
    loaded = _modules_after(
        "from kaosgen.pipeline import compile_project\n"
        f"c = compile_project([{str(REPO / 'examples' / 'multi-agent')!r}], output={str(tmp_path)!r})\n"
        "assert c.ok and c.files\n"
    )
    assert "kaos_contract" in loaded  # the shared contract is used...
    assert not loaded & set(RUNTIME_ONLY), loaded & set(
        RUNTIME_ONLY
    )  # ...nothing else of the runtime
    assert "kaos_runtime" not in loaded


def test_the_runtime_app_imports_nothing_of_the_compiler() -> None:
    loaded = _modules_after(
        "from kaos_runtime.settings import load_settings\n"
        "from kaos_runtime.app import create_app\n"
        "from kaos_runtime.mcp_server import __main__ as mcp_main\n"
    )
    assert "kaos_contract" in loaded and "starlette" in loaded
    assert not loaded & set(COMPILER_ONLY), loaded & set(COMPILER_ONLY)


def test_the_contract_is_stdlib_only() -> None:
    source = (REPO / "runtime" / "kaos_contract" / "env.py").read_text(encoding="utf-8")
    imports = {
        line.split()[1].split(".")[0]
        for line in source.splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imports <= {"__future__", "re", "dataclasses", "typing", "collections"}, imports
