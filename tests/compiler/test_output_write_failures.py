"""A render that cannot write every file changes none.

A full disk (simulated with a file-size limit: the kernel refuses the write the same way)
stopped a render half-way: the files written before the failure were the new render's,
the rest the old one's, a mix no render ever made, which Flux would apply as it stood.
Now every file is staged first and renamed into place only when all were written, and the
error names the file it could not write.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from support.compiler import tree

PROJECT = (
    "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\nenvironments:\n  dev: {namespace: dev}\n"
)
RESOURCES = """\
apiVersion: kaos.tools/v1alpha1
kind: ModelAPI
metadata: {name: llm}
spec: {mode: Hosted, hostedConfig: {model: "smollm2:135m"}}
---
apiVersion: kaos.tools/v1alpha1
kind: Agent
metadata: {name: small}
spec: {modelAPI: llm, model: "smollm2:135m"}
---
apiVersion: kaos.tools/v1alpha1
kind: Agent
metadata: {name: zz-large}
spec:
  modelAPI: llm
  model: "smollm2:135m"
  config:
    instructions: |
"""
#: Larger than any other rendered file, smaller than the large agent's.
LIMIT = 24_000

#: Run the CLI with a file-size limit (SIGXFSZ ignored: the write fails with EFBIG).
LIMITED = """\
import resource, signal, sys
limit = int(sys.argv[1])
if limit:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from kaosgen.cli import main
sys.argv = ["kaosgen", *sys.argv[2:]]
main()
"""


def _kaosgen(cwd: Path, *args: str, limit: int = 0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", LIMITED, str(limit), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_write_that_fails_half_way_leaves_the_previous_render(tmp_path: Path) -> None:
    (tmp_path / "kaosgen.yaml").write_text(PROJECT, encoding="utf-8")
    (tmp_path / "r.yaml").write_text(
        RESOURCES + "      Be brief and kind.\n" * 1500, encoding="utf-8"
    )
    first = _kaosgen(tmp_path, "render", ".", "-q")
    assert first.returncode == 0, first.stderr
    before = tree(tmp_path / "deploy")
    assert max(len(b) for b in before.values()) > LIMIT
    assert sorted(len(b) for b in before.values())[-2] < LIMIT
    # Every file changes (a label on every object); the large agent's cannot be written.
    (tmp_path / "kaosgen.yaml").write_text(PROJECT + "labels: {team: a}\n", encoding="utf-8")
    failed = _kaosgen(tmp_path, "render", ".", "-q", limit=LIMIT)
    assert failed.returncode == 1, failed.stderr
    assert "Traceback" not in failed.stderr
    assert (
        "error: deploy/base/agents/zz-large.yaml: cannot write: File too large; nothing in "
        "deploy was changed" in failed.stderr
    ), failed.stderr
    assert tree(tmp_path / "deploy") == before
    # Once it can write, the render completes.
    done = _kaosgen(tmp_path, "render", ".", "-q")
    assert done.returncode == 0, done.stderr
    assert b"team: a" in tree(tmp_path / "deploy")["base/agents/small.yaml"]


def test_a_failed_first_render_leaves_no_output_directory(tmp_path: Path) -> None:
    """The lock created the output directory (and its parents) before the render failed,
    leaving an empty directory no render wrote."""
    (tmp_path / "kaosgen.yaml").write_text(PROJECT, encoding="utf-8")
    (tmp_path / "r.yaml").write_text(
        RESOURCES + "      Be brief and kind.\n" * 1500, encoding="utf-8"
    )
    failed = _kaosgen(tmp_path, "render", "r.yaml", "-o", "new/deploy", "-q", limit=LIMIT)
    assert failed.returncode == 1, failed.stderr
    assert "cannot write: File too large" in failed.stderr
    assert not (tmp_path / "new").exists()
    (tmp_path / "kept").mkdir()
    failed = _kaosgen(tmp_path, "render", "r.yaml", "-o", "kept", "-q", limit=LIMIT)
    assert failed.returncode == 1 and (tmp_path / "kept").is_dir()  # not created by it
    done = _kaosgen(tmp_path, "render", "r.yaml", "-o", "new/deploy", "-q")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "new" / "deploy" / "base").is_dir()


def test_a_render_waiting_on_a_removed_directory_locks_the_new_one(tmp_path: Path) -> None:
    """A failed first render removes the directory it created while another waits on its
    lock: the waiter must then lock (and write into) the directory now at the path, not
    the deleted one, or a third render could write beside it unlocked."""
    import threading

    from kaosgen import writer

    out = tmp_path / "out"
    entered, held = threading.Event(), []

    def waiter() -> None:
        entered.wait()
        with writer.locked(out, wait=10):
            held.append(os.stat(out).st_ino)
            (out / "written").write_text("x", encoding="utf-8")

    thread = threading.Thread(target=waiter)
    thread.start()
    try:
        with writer.locked(out):
            entered.set()
            time.sleep(0.3)  # the waiter has opened the directory and waits on the lock
            raise RuntimeError("render failed")
    except RuntimeError:
        pass
    thread.join(10)
    assert held and held[0] == os.stat(out).st_ino
    assert (out / "written").is_file()
