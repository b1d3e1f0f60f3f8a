"""The runtime images' Dockerfile, checked statically (Docker does not run in CI).

Pins what the tests and the compiler rely on, so the image and the tests cannot drift:
the CMD of each target is the module the tests start, the ENV keeps start-up offline,
the user is a numeric non-root uid, and only /tmp needs to be writable.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from kaos_contract.env import AGENT_PORT_DEFAULT, MCP_PORT_DEFAULT, OFFLINE_ENV
from support import mcp_server
from support.dockerfile import Stage, env_of, inherited, parse

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "runtime" / "Dockerfile"
AGENT_MODULE = "kaos_runtime"  # `python -m kaos_runtime`, as the agent tests start it
SCRIPTS = {"agent": "kaos-agent", "mcp-server": "kaos-mcp-server"}


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], dict[str, Stage], list[Stage]]:
    args, stages = parse(DOCKERFILE)
    return args, {s.name: s for s in stages}, stages


def test_base_image_is_slim_python_311_pinned(dockerfile) -> None:
    args, _, _ = dockerfile
    image = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", image), image


@pytest.mark.parametrize(
    ("target", "module", "port"),
    [
        ("agent", AGENT_MODULE, AGENT_PORT_DEFAULT),
        ("mcp-server", mcp_server.MODULE, MCP_PORT_DEFAULT),
    ],
)
def test_target_cmd_user_env(dockerfile, target: str, module: str, port: int) -> None:
    _, stages, _ = dockerfile
    (cmd,) = inherited(stages, target, "CMD")[-1:]
    assert json.loads(cmd) == [SCRIPTS[target]]  # the console script of `module`

    user = inherited(stages, target, "USER")[-1]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, "USER must be a numeric non-root uid"
    assert not gid or (gid.isdigit() and int(gid) != 0)

    env = env_of(stages, target)
    for key, value in OFFLINE_ENV.items():
        assert env.get(key) == value, f"{key} must be {value!r} in the {target} image"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["HOME"] == "/tmp"
    assert env["TMPDIR"] == "/tmp"
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert str(port) in inherited(stages, target, "EXPOSE")


def test_agent_is_the_default_target(dockerfile) -> None:
    _, _, ordered = dockerfile
    assert ordered[-1].name == "agent"


def test_installs_the_runtime_extra_from_the_lock(dockerfile) -> None:
    _, stages, _ = dockerfile
    run = " ".join(stages["build"].all("RUN"))
    assert "--frozen" in run
    assert "--extra runtime" in run
    assert "--compile-bytecode" in run  # nothing to write at run time


def test_copied_paths_are_tracked(dockerfile) -> None:
    """Every COPY source is in git, so the image builds from a clean checkout."""
    import subprocess

    _, stages, _ = dockerfile
    for copy in stages["build"].all("COPY"):
        *sources, _dest = copy.split()
        for source in sources:
            tracked = subprocess.run(
                ["git", "ls-files", "--", source], cwd=ROOT, capture_output=True, text=True
            ).stdout
            assert tracked.strip(), f"COPY {source}: no tracked file in the repository"


def test_installs_kaosgen_as_its_wheel(dockerfile) -> None:
    """The wheel, not a path hack: package metadata (the version /health reports) and the
    console scripts the CMDs name exist in the image."""
    _, stages, _ = dockerfile
    run = " ".join(stages["build"].all("RUN"))
    assert "uv build --wheel" in run
    assert "--no-deps /tmp/dist/kaosgen-*.whl" in run


def test_console_scripts_match_the_cmds() -> None:
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["kaos-mcp-server"] == f"{mcp_server.MODULE}.__main__:main"
    assert scripts["kaos-agent"] == f"{AGENT_MODULE}.__main__:main"


#: The compiler's own dependencies, which no runtime dependency needs either.
PRUNED = {"kubernetes", "ruamel-yaml", "ruamel-yaml-clib", "pathspec"}
PRUNED_MODULES = ("kubernetes", "ruamel", "_ruamel_yaml", "pathspec")

_WITHOUT_COMPILER_DEPENDENCIES = """
import importlib, pkgutil, sys

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"{{name}} is not in the runtime image")
        return None

sys.meta_path.insert(0, Refuse())
import kaos_contract, kaos_runtime
names = ["kaos_contract.env", "kaos_contract.version"]
names += [m.name for m in pkgutil.walk_packages(kaos_runtime.__path__, "kaos_runtime.")]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


def test_the_images_leave_out_the_compiler_dependencies(dockerfile) -> None:
    """The images install the runtime extra without the compiler's own dependencies (75 MB
    of kubernetes client, ruamel.yaml, pathspec): every runtime module imports without
    them, so pruning them cannot break a container at start-up."""
    import subprocess
    import sys

    from support.dockerfile import export_arguments

    _, stages, _ = dockerfile
    arguments = export_arguments(stages)
    pruned = {arguments[i + 1] for i, word in enumerate(arguments) if word == "--prune"}
    assert pruned == PRUNED
    probe = _WITHOUT_COMPILER_DEPENDENCIES.format(blocked=PRUNED_MODULES)
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert int(proc.stdout.split()[-1]) > 30  # every module was imported
