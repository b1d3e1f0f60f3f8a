"""Hostile input is refused quickly, in bounded memory, with a diagnostic: never a hang,
never a traceback (issue 9).

Each case builds a small valid project and adds one hostile file (an alias bomb, runaway
nesting, a FIFO, /dev/zero behind a .yaml name, a huge file, ...). Every command that
reads a project (`validate`, `render`, `build`, `diff` and the pre-commit hooks) must
print the case's `file:line:col: error: message [rule]` (or a file-level `file: error:`),
exit 1, write nothing, spend under a second of CPU and stay under a memory bound.

CPU time, not wall time, is the bound: the machine is shared, and waiting for a core is
not what the input costs. A real hang (a blocking read of a FIFO) spends no CPU: the
wall-clock guard and pytest-timeout catch that.
"""

from __future__ import annotations

import os
import re
import socket
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.compiler import assert_no_traceback, run_kaosgen

from kaosgen.limits import MAX_ALIAS_EXPANSION, MAX_DEPTH, MAX_FILE_BYTES

PROJECT_FILE = """\
apiVersion: kaosgen.dev/v1alpha1
kind: Project
environments:
  dev:
    namespace: dev
"""
RESOURCES = """\
apiVersion: kaos.tools/v1alpha1
kind: ModelAPI
metadata: {name: llm}
spec: {mode: Hosted, hostedConfig: {model: "smollm2:135m"}}
---
apiVersion: kaos.tools/v1alpha1
kind: Agent
metadata: {name: a}
spec: {modelAPI: llm, model: "smollm2:135m"}
"""
CPU_SECONDS = 1.0
WALL_SECONDS = 20.0  # a hang guard only: see the module docstring
PEAK_BYTES = 64 * 1024 * 1024


def _bomb(anchor_body: str, level: Callable[[int], str]) -> str:
    lines = [f"a0: &a0 {anchor_body}"]
    lines += [f"a{i}: &a{i} {level(i)}" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


def alias_bomb() -> str:
    """The "billion laughs": 9 levels of 9 aliases to the level below (570 bytes)."""
    return _bomb(
        "[lol, lol, lol, lol, lol, lol, lol, lol, lol]",
        lambda i: "[" + ", ".join([f"*a{i - 1}"] * 9) + "]",
    )


def merge_bomb() -> str:
    """The same with merge keys: each level merges the level below nine times."""
    keys = ", ".join(f"k{j}: v" for j in range(9))
    return _bomb("{" + keys + "}", lambda i: "{<<: [" + ", ".join([f"*a{i - 1}"] * 9) + "]}")


BOMB_MESSAGE = re.escape(
    f"aliases in this file expand to more than {MAX_ALIAS_EXPANSION:,} nodes and characters "
    "(an alias bomb?) [yaml-alias]"
)


@dataclass
class Case:
    id: str
    #: Adds the hostile file to the project directory; returns its path relative to it.
    make: Callable[[Path], str]
    #: The diagnostic header after `p/<file>`: a regex (`:line:col: error: ... [rule]`).
    expected: str


def _write(name: str, text: str) -> Callable[[Path], str]:
    def make(project: Path) -> str:
        (project / name).write_text(text, encoding="utf-8")
        return name

    return make


def _project_file(text: str) -> Callable[[Path], str]:
    return _write("kaosgen.yaml", text)


def _symlink_loop(project: Path) -> str:
    os.symlink("loop-b.yaml", project / "loop-a.yaml")
    os.symlink("loop-a.yaml", project / "loop-b.yaml")
    return "loop-a.yaml"


def _fifo(project: Path) -> str:
    os.mkfifo(project / "fifo.yaml")
    return "fifo.yaml"


def _dev_zero(project: Path) -> str:
    os.symlink("/dev/zero", project / "zero.yaml")
    return "zero.yaml"


def _socket(project: Path) -> str:
    # A short relative name: unix socket paths are limited to ~100 bytes.
    cwd = Path.cwd()
    os.chdir(project)
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind("sock.yaml")
        _SOCKETS.append(sock)
    finally:
        os.chdir(cwd)
    return "sock.yaml"


_SOCKETS: list[socket.socket] = []


def _huge(project: Path) -> str:
    """A sparse 1 GiB file: refused by its size, never read (reading it would show in the
    memory bound)."""
    with open(project / "huge.yaml", "wb") as fh:
        fh.truncate(1024 * 1024 * 1024)
    return "huge.yaml"


def _project_file_directory(project: Path) -> str:
    (project / "kaosgen.yaml").unlink()
    (project / "kaosgen.yaml").mkdir()
    (project / "kaosgen.yaml" / "x.yaml").write_text(RESOURCES, encoding="utf-8")
    return "kaosgen.yaml"


DEEP = 10_000

CASES = [
    Case("alias-bomb", _write("bomb.yaml", alias_bomb()), r":\d+:\d+: error: " + BOMB_MESSAGE),
    Case("merge-key-bomb", _write("bomb.yaml", merge_bomb()), r":\d+:\d+: error: " + BOMB_MESSAGE),
    Case(
        "alias-bomb-in-kaosgen.yaml",
        _project_file(PROJECT_FILE + alias_bomb()),
        r":\d+:\d+: error: " + BOMB_MESSAGE,
    ),
    Case(
        "merge-key-bomb-in-kaosgen.yaml",
        _project_file(PROJECT_FILE + merge_bomb()),
        r":\d+:\d+: error: " + BOMB_MESSAGE,
    ),
    Case(
        "self-referencing-alias",
        _write(
            "self.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: &a [*a]\n"
        ),
        re.escape(
            ":4:11: error: alias *a refers to the node that contains it (an endless structure) "
            "[yaml-alias]"
        ),
    ),
    Case(
        "deep-flow-nesting",
        _write("deep.yaml", "x: " + "[" * DEEP + "]" * DEEP + "\n"),
        # the root mapping is level 1; the 100th `[` would be level 101
        re.escape(
            f":1:{3 + MAX_DEPTH}: error: nesting deeper than {MAX_DEPTH} levels [yaml-depth]"
        ),
    ),
    Case(
        "deep-block-nesting",
        _write("deep.yaml", "- " * DEEP + "x\n"),
        re.escape(
            f":1:{2 * MAX_DEPTH + 1}: error: nesting deeper than {MAX_DEPTH} levels [yaml-depth]"
        ),
    ),
    Case(
        "symlink-loop",
        _symlink_loop,
        re.escape(": error: cannot read file: symbolic link loop [io]"),
    ),
    Case(
        "fifo",
        _fifo,
        re.escape(": error: is a named pipe (FIFO), not a regular file [not-a-file]"),
    ),
    Case(
        "dev-zero",
        _dev_zero,
        re.escape(": error: is a character device, not a regular file [not-a-file]"),
    ),
    Case(
        "socket",
        _socket,
        re.escape(": error: is a socket, not a regular file [not-a-file]"),
    ),
    Case(
        "over-the-size-limit",
        _huge,
        re.escape(
            f": error: file is {1024**3:,} bytes, over the {MAX_FILE_BYTES // 2**20} MiB limit "
            "for one input [file-size]"
        ),
    ),
    Case(
        "kaosgen.yaml-is-a-directory",
        _project_file_directory,
        re.escape(": error: is a directory, not a regular file [not-a-file]"),
    ),
    Case(
        "non-string-keys",
        _write(
            "keys.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  true: a\n  null: b\n  0x10: c\n",
        ),
        re.escape(
            ":5:3: error: mapping key 'true' is read as a boolean, not a string [yaml-key-type]"
        ),
    ),
    Case(
        # 2,000,000 empty documents in 8 MB took 31 s and 1.5 GiB to compose.
        "millions-of-empty-documents",
        _write("empty.yaml", "---\n" * 2_000_000),
        re.escape(":50001:1: error: more than 50,000 documents in one file [yaml-documents]"),
    ),
    Case(
        "number-out-of-range",
        _project_file(PROJECT_FILE + "    replicas: 100000000000000000000\n"),
        re.escape(
            ":6:15: error: integer 100000000000000000000 is out of range for Kubernetes "
            "(64-bit integers: -9223372036854775808 to 9223372036854775807) [number-range]"
        ),
    ),
    Case(
        "number-out-of-range-for-int32",
        _project_file(PROJECT_FILE + "    replicas: 3000000000\n"),
        re.escape(
            ":6:15: error: environments.dev.replicas: input should be less than or equal to "
            "2147483647 (got 3000000000) [schema-range]"
        ),
    ),
]


def _valid_project(root: Path) -> Path:
    project = root / "p"
    project.mkdir()
    (project / "kaosgen.yaml").write_text(PROJECT_FILE, encoding="utf-8")
    (project / "resources.yaml").write_text(RESOURCES, encoding="utf-8")
    return project


@pytest.fixture(scope="module", autouse=True)
def _warm_imports(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Run every command once on a valid project, so the measured runs do not pay for
    importing kaosgen's modules (under tracemalloc, that alone is seconds)."""
    root = tmp_path_factory.mktemp("warm")
    _valid_project(root)
    for args in _commands("resources.yaml").values():
        assert_no_traceback(run_kaosgen(*args, cwd=root))


@pytest.fixture(autouse=True)
def _close_sockets() -> Iterator[None]:
    yield
    while _SOCKETS:
        _SOCKETS.pop().close()


def _commands(hostile: str) -> dict[str, list[str]]:
    return {
        "validate": ["validate", "p"],
        "render": ["render", "p"],
        "build": ["build", "p"],
        "diff": ["diff", "p"],
        "hook validate": ["hook", "validate", f"p/{hostile}"],
        "hook render-check": ["hook", "render-check", f"p/{hostile}"],
        "hook render": ["hook", "render", f"p/{hostile}"],
    }


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_is_refused_quickly_in_bounded_memory(case: Case, tmp_path: Path) -> None:
    project = _valid_project(tmp_path)
    hostile = case.make(project)
    header = re.compile("^" + re.escape(f"p/{hostile}") + case.expected + "$", re.MULTILINE)
    for name, args in _commands(hostile).items():
        tracemalloc.start()
        cpu, wall = time.process_time(), time.monotonic()
        result = run_kaosgen(*args, cwd=tmp_path)
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert_no_traceback(result)
        assert header.search(result.stderr), f"{name}: no {header.pattern!r} in:\n{result.stderr}"
        assert result.exit_code == 1, f"{name} exited {result.exit_code}:\n{result.output}"
        assert cpu < CPU_SECONDS, f"{name} spent {cpu:.2f}s of CPU"
        assert wall < WALL_SECONDS, f"{name} took {wall:.1f}s"
        assert peak < PEAK_BYTES, f"{name} allocated {peak / 2**20:.0f} MiB at peak"
        assert not (project / "deploy").exists(), f"{name} wrote output for invalid input"
