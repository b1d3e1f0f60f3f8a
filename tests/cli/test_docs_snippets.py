"""The kaosgen.yaml snippets of the README and the docs are valid kaosgen.yaml.

Every ```yaml block of README.md, docs/gateway.md and docs/workloads.md that is not a
KAOS resource is checked against the Project model (what `kaosgen validate` applies), so a
documented field cannot drift from the code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from support.devtools import REPO

from kaosgen.models.project import Project

DOCS = [REPO / "README.md", REPO / "docs" / "gateway.md", REPO / "docs" / "workloads.md"]
_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _snippets() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for i, block in enumerate(_BLOCK.findall(text)):
            found.append((f"{path.relative_to(REPO)}#{i + 1}", block))
    return found


@pytest.mark.parametrize(("where", "text"), _snippets(), ids=[w for w, _ in _snippets()])
def test_the_snippet_is_valid_kaosgen_yaml(where: str, text: str) -> None:
    data = YAML(typ="safe").load(text)
    assert isinstance(data, dict), where
    if str(data.get("apiVersion", "")).startswith("kaos.tools/"):
        pytest.skip("a KAOS resource, not kaosgen.yaml")
    Project.model_validate(data)


def test_the_docs_have_snippets() -> None:
    assert {w.split("#")[0] for w, _ in _snippets()} == {
        str(Path(p).relative_to(REPO)) for p in DOCS
    }
