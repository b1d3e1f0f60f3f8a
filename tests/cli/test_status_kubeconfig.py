"""`kaosgen status` with a kubeconfig that is no kubeconfig: one line naming the file and
exit 2, never a traceback (a YAML error of the kubernetes client) or a hang (a FIFO the
client would block on forever, a device it would read without end)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from support.compiler import assert_no_traceback, run_kaosgen
from support.devtools import REPO

ECHO = REPO / "examples" / "echo"


def _fifo(tmp: Path) -> str:
    os.mkfifo(tmp / "fifo")
    return str(tmp / "fifo")


def _write(text: str) -> Callable[[Path], str]:
    def make(tmp: Path) -> str:
        (tmp / "kubeconfig").write_text(text, encoding="utf-8")
        return str(tmp / "kubeconfig")

    return make


CASES = {
    "fifo": (_fifo, "is a named pipe (FIFO), not a regular file"),
    "device": (lambda _: "/dev/zero", "is a character device, not a regular file"),
    "fifo-in-a-list": (
        lambda tmp: f"{tmp / 'missing'}{os.pathsep}{_fifo(tmp)}",
        "is a named pipe (FIFO), not a regular file",
    ),
    "yaml-syntax-error": (_write("clusters: [\n"), "expected the node content"),
    "two-documents": (_write("a: 1\n---\nb: 2\n"), "expected a single document"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_broken_kubeconfig_is_one_line_and_exit_2(case: str, tmp_path: Path) -> None:
    make, problem = CASES[case]
    kubeconfig = make(tmp_path)
    result = run_kaosgen("status", ECHO, "--env", "dev", "--kubeconfig", kubeconfig)
    assert_no_traceback(result)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: cannot load the kubeconfig "), result.stderr
    assert problem in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
