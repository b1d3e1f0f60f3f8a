"""DEBUG_MOCK_RESPONSES is test-only: kaosgen never renders it on its own, and renders it
as written when an Agent's `container.env` sets it (how KAOS scenarios use it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.devtools import REPO

from kaosgen.pipeline import compile_project

EXAMPLES = sorted(p.name for p in (REPO / "examples").iterdir() if p.is_dir())


@pytest.mark.parametrize("example", EXAMPLES)
def test_never_rendered_unless_asked(example: str) -> None:
    compilation = compile_project([str(REPO / "examples" / example)])
    assert compilation.ok
    assert not [path for path, text in compilation.files.items() if "DEBUG_MOCK_RESPONSES" in text]


def test_rendered_as_written_from_container_env(tmp_path: Path) -> None:
    project = tmp_path / "echo"
    shutil.copytree(REPO / "examples" / "echo", project, ignore=shutil.ignore_patterns("deploy"))
    resources = project / "resources.yaml"
    resources.write_text(
        resources.read_text(encoding="utf-8").replace(
            "  model: ollama/smollm2:135m\n",
            "  model: ollama/smollm2:135m\n  container:\n    env:\n"
            "    - name: DEBUG_MOCK_RESPONSES\n      value: '[\"canned\"]'\n",
        ),
        encoding="utf-8",
    )
    compilation = compile_project([str(project)])
    assert compilation.ok
    (agent,) = [t for p, t in compilation.files.items() if p.endswith("agents/echo-agent.yaml")]
    from ruamel.yaml import YAML

    deployment = next(d for d in YAML(typ="safe").load_all(agent) if d["kind"] == "Deployment")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "DEBUG_MOCK_RESPONSES", "value": '["canned"]'} in env
