"""An output directory behind a symlink loop or a dangling link is a clear error.

`-o oloop` where oloop -> oloop said only "cannot write oloop: File exists"."""

from __future__ import annotations

import os
from pathlib import Path

from support.compiler import assert_no_traceback, run_kaosgen

MODEL = (
    "apiVersion: kaos.tools/v1alpha1\nkind: ModelAPI\nmetadata: {name: llm}\n"
    'spec: {mode: Hosted, hostedConfig: {model: "smollm2:135m"}}\n'
)


def test_output_through_a_symlink_loop_names_the_loop(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(MODEL, encoding="utf-8")
    os.symlink("oloop", tmp_path / "oloop")
    for output in ("oloop", "oloop/sub"):
        result = run_kaosgen("render", "r.yaml", "-o", output, cwd=tmp_path)
        assert_no_traceback(result)
        assert result.exit_code == 1
        assert "is a symbolic link loop (oloop -> oloop)" in result.output, result.output
        assert "pass another output directory (-o)" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["oloop", "r.yaml"]


def test_output_through_a_dangling_symlink_names_its_target(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(MODEL, encoding="utf-8")
    os.symlink("nowhere", tmp_path / "out")
    result = run_kaosgen("render", "r.yaml", "-o", "out", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert "out: is a symbolic link to a missing path (out -> nowhere)" in result.output
