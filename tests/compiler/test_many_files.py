"""A project of many small files costs memory for what the files hold, not per file.

Commands run with the cyclic garbage collector off, and each file's YAML parser is
garbage in reference cycles: without a collection per file, 20,000 ConfigMaps of three
lines took 1 GiB (about 50 KiB a file). The test runs `kaosgen validate` as a process on
500 and on 3,000 files and bounds what each extra file adds to its peak memory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

#: What one more three-line file may add to the peak (it holds a few hundred bytes).
MAX_KIB_PER_FILE = 16


def _peak_kib(root: Path, files: int) -> int:
    project = root / f"p{files}"
    project.mkdir()
    for i in range(files):
        (project / f"c{i}.yaml").write_text(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\n", encoding="utf-8"
        )
    proc = subprocess.Popen(
        [sys.executable, "-m", "kaosgen", "validate", "--quiet", "."],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    # wait4: this child's own peak (RUSAGE_CHILDREN would be the largest of any child).
    _, status, usage = os.wait4(proc.pid, 0)
    assert proc.stderr is not None
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert os.waitstatus_to_exitcode(status) == 0, stderr
    return usage.ru_maxrss  # KiB on Linux


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux only")
@pytest.mark.timeout(300)
def test_memory_per_input_file_is_bounded(tmp_path: Path) -> None:
    small, large = _peak_kib(tmp_path, 500), _peak_kib(tmp_path, 3000)
    per_file = (large - small) / 2500
    assert per_file < MAX_KIB_PER_FILE, (
        f"each file added {per_file:.1f} KiB to the peak ({small} KiB at 500 files, "
        f"{large} KiB at 3,000)"
    )
