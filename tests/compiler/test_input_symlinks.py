"""Symlinked directories in a walked input directory are followed or refused, never
silently skipped.

os.walk does not descend into a symlinked directory, so the files it pointed to were not
read and nothing said so. Links that stay inside the walked directory are now followed;
those that leave it or loop back into it are errors naming the link.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.compiler import assert_no_traceback, run_kaosgen, validate_json

MODEL = (
    "apiVersion: kaos.tools/v1alpha1\nkind: ModelAPI\nmetadata: {{name: {name}}}\n"
    'spec: {{mode: Hosted, hostedConfig: {{model: "smollm2:135m"}}}}\n'
)


def _names(project: Path) -> list[str]:
    """The ModelAPIs a render of `app` writes (one file each)."""
    result = run_kaosgen("render", "app", "-o", "out", "-q", cwd=project)
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    return sorted(p.stem for p in (project / "out" / "base" / "modelapis").glob("*.yaml"))


def test_a_symlinked_directory_inside_is_read(tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / ".shared").mkdir(parents=True)
    (app / ".shared" / "m.yaml").write_text(MODEL.format(name="linked"), encoding="utf-8")
    (app / "direct.yaml").write_text(MODEL.format(name="direct"), encoding="utf-8")
    os.symlink(".shared", app / "shared")
    assert _names(tmp_path) == ["direct", "linked"]


@pytest.mark.timeout(60)
def test_symlink_cycles_end_and_read_each_file_once(tmp_path: Path) -> None:
    app = tmp_path / "app"
    for name in ("a", "b"):
        (app / name).mkdir(parents=True)
        (app / name / f"{name}.yaml").write_text(MODEL.format(name=name), encoding="utf-8")
    for n in (1, 2):  # two ways round: walking each path through them would never end
        os.symlink("../b", app / "a" / f"to-b{n}")
        os.symlink("../a", app / "b" / f"to-a{n}")
    assert _names(tmp_path) == ["a", "b"]


def test_links_leaving_or_looping_are_errors_at_the_link(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "m.yaml").write_text(MODEL.format(name="out"), encoding="utf-8")
    app = tmp_path / "app"
    (app / "sub").mkdir(parents=True)
    (app / "m.yaml").write_text(MODEL.format(name="in"), encoding="utf-8")
    os.symlink("../outside", app / "elsewhere")
    os.symlink("..", app / "sub" / "up")
    code, diagnostics = validate_json("app", cwd=tmp_path)
    assert code == 1
    got = {(d["file"], d["rule"]) for d in diagnostics if d["severity"] == "error"}
    assert got == {("app/elsewhere", "symlink"), ("app/sub/up", "symlink")}, diagnostics
    by_file = {d["file"]: d for d in diagnostics}
    assert "points outside app (elsewhere -> ../outside)" in by_file["app/elsewhere"]["message"]
    assert "pass the directory as another input" in by_file["app/elsewhere"]["hint"]
    assert "loops back" in by_file["app/sub/up"]["message"]
    result = run_kaosgen("render", "app", "-o", "out", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.exit_code == 1 and not (tmp_path / "out").exists()
