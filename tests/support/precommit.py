"""Run the real `pre-commit try-repo` against this repository, offline.

pre-commit installs a `language: python` hook repository with `pip install .` into a fresh
virtualenv. To do that without network access the tests hand pip a local wheelhouse
(`PIP_NO_INDEX=1`, `PIP_FIND_LINKS`) holding

- kaosgen's runtime dependencies, repacked as wheels from the distributions installed in
  the test's own virtualenv (they are there by definition), and
- the build backend (hatchling and its dependencies), installed from uv's cache with
  `uv pip install --offline --target` (uv built kaosgen with it) and repacked the same way.

When `unshare -rn` works, pre-commit runs in a new network namespace with no interfaces
but loopback: proof that nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from support import wheels
from support.devtools import REPO, git, tool_env


def build_wheelhouse(dest: Path) -> Path:
    """kaosgen's dependencies and its build backend: what `pip install .` needs offline."""
    return wheels.build_wheelhouse(dest, build_backend=True)


def snapshot_repo(dest: Path) -> Path:
    """This working tree (tracked and new files, no ignored ones) as a one-commit repository,
    so try-repo installs exactly the code under test and caches it across calls."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in sorted(set(filter(None, listed.split("\0")))):
        source = REPO / rel
        if not source.is_file() or "/deploy/" in f"/{rel}":
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    git("init", "-q", "-b", "main", cwd=dest)
    git("add", "-A", cwd=dest)
    git("commit", "-q", "-m", "snapshot", cwd=dest)
    return dest


def _unshare_works() -> bool:
    exe = shutil.which("unshare")
    if exe is None:
        return False
    try:
        return subprocess.run([exe, "-rn", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _fast_tmp(base: Path) -> Path:
    """Hook environments hold thousands of small files: keep them in memory when possible."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        import tempfile

        return Path(tempfile.mkdtemp(prefix="kaosgen-pre-commit-", dir=shm))
    return base


class PreCommit:
    def __init__(self, home: Path, wheelhouse: Path, hook_repo: Path) -> None:
        self.home = _fast_tmp(home)
        self.wheelhouse = wheelhouse
        self.hook_repo = hook_repo
        self.rev = git("rev-parse", "HEAD", cwd=hook_repo).strip()
        self.isolated = _unshare_works()
        self._install: subprocess.Popen[str] | None = None

    def cleanup(self) -> None:
        if self._install is not None and self._install.poll() is None:
            self._install.kill()
            self._install.wait()
        if str(self.home).startswith("/dev/shm/"):
            shutil.rmtree(self.home, ignore_errors=True)

    def env(self) -> dict[str, str]:
        tmp = self.home / "tmp"
        tmp.mkdir(exist_ok=True)
        return tool_env(
            PRE_COMMIT_HOME=str(self.home / "cache"),
            PRE_COMMIT_COLOR="never",
            TMPDIR=str(tmp),
            PIP_NO_INDEX="1",
            PIP_FIND_LINKS=str(self.wheelhouse),
            PIP_CONFIG_FILE=os.devnull,
            PIP_DISABLE_PIP_VERSION_CHECK="1",
            PIP_NO_COMPILE="1",
            VIRTUALENV_NO_PERIODIC_UPDATE="1",
            VIRTUALENV_OVERRIDE_APP_DATA=str(self.home / "virtualenv"),
            GIT_AUTHOR_NAME="kaosgen test",
            GIT_AUTHOR_EMAIL="test@example.com",
            GIT_COMMITTER_NAME="kaosgen test",
            GIT_COMMITTER_EMAIL="test@example.com",
            GIT_CONFIG_NOSYSTEM="1",
        )

    def command(self, *args: str) -> list[str]:
        cmd = [str(Path(sys.executable).parent / "pre-commit"), *args]
        return ["unshare", "-rn", *cmd] if self.isolated else cmd

    def try_repo(self, cwd: Path, *args: str) -> subprocess.Popen[str]:
        """Start `pre-commit try-repo <this repository> ARGS` (a fresh install every time)."""
        return subprocess.Popen(
            self.command("try-repo", str(self.hook_repo), *args),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env(),
        )

    def config(self, hooks: tuple[str, ...] = ("kaosgen-validate", "kaosgen-render-check")) -> str:
        """A .pre-commit-config.yaml using this repository's hooks at the snapshot commit."""
        lines = ["repos:", f"- repo: {self.hook_repo}", f"  rev: {self.rev}", "  hooks:"]
        lines.extend(f"  - id: {hook}" for hook in hooks)
        return "\n".join(lines) + "\n"

    def start_install(self, scratch: Path) -> None:
        """Install the hook environment into PRE_COMMIT_HOME in the background."""
        scratch.mkdir(parents=True, exist_ok=True)
        git("init", "-q", "-b", "main", cwd=scratch)
        (scratch / ".pre-commit-config.yaml").write_text(self.config(), encoding="utf-8")
        self._install = subprocess.Popen(
            self.command("install-hooks"),
            cwd=scratch,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env(),
        )

    def run(self, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """`pre-commit run ARGS` with the repository's own .pre-commit-config.yaml (cached env)."""
        if self._install is not None:
            out, _ = self._install.communicate(timeout=600)
            assert self._install.returncode == 0, out
        return subprocess.run(
            self.command("run", *args),
            cwd=cwd,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=300,
        )


def git_commit(tool: PreCommit, cwd: Path, message: str) -> subprocess.CompletedProcess[str]:
    """`git commit`, running the installed pre-commit git hook (offline, cached env)."""
    if tool._install is not None:
        out, _ = tool._install.communicate(timeout=600)
        assert tool._install.returncode == 0, out
    cmd = ["git", "commit", "-q", "-m", message]
    if tool.isolated:
        cmd = ["unshare", "-rn", *cmd]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=tool.env(), timeout=300)
