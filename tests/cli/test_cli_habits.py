"""What kubectl and kustomize users expect of a CLI: `.` by default, exit codes 0/1/2,
colour rules (NO_COLOR, --color), --strict, --version, `python -m kaosgen`, shell
completion that really completes in bash, zsh and fish, -v, and a progress line only on
a terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from support.compiler import assert_no_traceback, load_all, run_kaosgen
from support.devtools import BIN, KAOSGEN, REPO, tool_env

ECHO = REPO / "examples" / "echo"
ESC = "\x1b["
#: A colour (SGR) sequence; the progress line's erase-line sequence is not one.
COLOUR = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def echo(tmp_path: Path) -> Path:
    """A copy of examples/echo without its rendered output."""
    target = tmp_path / "echo"
    shutil.copytree(ECHO, target, ignore=shutil.ignore_patterns("deploy"))
    return target


def _with_warning(project: Path) -> Path:
    """The echo project with a warning: two replicas of an agent with local memory."""
    config = project / "kaosgen.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace(
            "agent/echo-agent:\n        replicas: 1", "agent/echo-agent:\n        replicas: 2"
        ),
        encoding="utf-8",
    )
    return project


# --- defaults and exit codes ---------------------------------------------------------------


def test_validate_and_render_default_to_the_current_directory(echo: Path) -> None:
    validate = run_kaosgen("validate", cwd=echo)
    assert validate.exit_code == 0, validate.output
    render = run_kaosgen("render", cwd=echo)
    assert render.exit_code == 0, render.output
    assert (echo / "deploy" / "base" / "agents" / "echo-agent.yaml").is_file()
    assert run_kaosgen("render", "--check", cwd=echo).exit_code == 0


def test_the_bundled_example_renders_with_no_warning(tmp_path: Path) -> None:
    """The first thing a newcomer runs: not a diagnostic, and --strict passes."""
    result = run_kaosgen("render", ECHO, "-o", tmp_path / "out", "--strict")
    assert result.exit_code == 0, result.output
    assert result.stderr == f"{tmp_path / 'out'}: 9 added, 0 changed, 0 removed, 0 unchanged\n"


COMMANDS_WITH_PATHS = [
    ["validate"],
    ["render"],
    ["render", "--check"],
    ["build", "--env", "dev"],
    ["diff"],
    ["graph"],
    ["status", "--env", "dev"],
    ["hook", "validate"],
    ["hook", "render-check"],
    ["hook", "render"],
]


@pytest.mark.parametrize("command", COMMANDS_WITH_PATHS, ids=" ".join)
def test_a_missing_path_is_a_usage_error(command: list[str], tmp_path: Path) -> None:
    result = run_kaosgen(*command, "nope.yaml", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.exit_code == 2, result.output
    assert "'nope.yaml': no such file or directory" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "command", [c for c in COMMANDS_WITH_PATHS if c[0] != "hook"], ids=" ".join
)
def test_a_missing_project_file_is_a_usage_error(command: list[str], echo: Path) -> None:
    result = run_kaosgen(*command, "--project", "missing.yaml", ".", cwd=echo)
    assert result.exit_code == 2, result.output
    assert "'missing.yaml': no such file or directory" in result.stderr


@pytest.mark.parametrize(
    "args",
    [["nosuch"], ["validate", "--nosuch"], ["render", "--format", "xml"], ["completion", "tcsh"]],
    ids=" ".join,
)
def test_bad_usage_exits_2(args: list[str], echo: Path) -> None:
    result = run_kaosgen(*args, cwd=echo)
    assert result.exit_code == 2, result.output
    assert "Error:" in result.stderr


def test_problems_exit_1_and_nothing_else_does(echo: Path) -> None:
    agent = echo / "resources.yaml"
    agent.write_text(
        agent.read_text(encoding="utf-8").replace("modelAPI: smollm2", "modelAPI: gone")
    )
    for command in (["validate"], ["render"], ["render", "--check"], ["build", "-e", "dev"]):
        result = run_kaosgen(*command, cwd=echo)
        assert result.exit_code == 1, (command, result.output)
        assert "[ref-modelapi]" in result.stderr


def test_a_file_kaosgen_cannot_write_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for args, name in ((["crds", "-o"], "crds.yaml"), (["graph", str(ECHO), "--output"], "g.mmd")):
        target = tmp_path / "no" / "such" / name
        result = run_kaosgen(*args, target)
        assert_no_traceback(result)
        assert result.exit_code == 2
        assert result.stderr == f"error: {target}: No such file or directory\n"


# --- --strict and per-project rule switches ------------------------------------------------


def test_strict_makes_warnings_fail_and_writes_nothing(echo: Path) -> None:
    _with_warning(echo)
    relaxed = run_kaosgen("validate", cwd=echo)
    assert relaxed.exit_code == 0 and "[memory-replicas]" in relaxed.stderr
    strict = run_kaosgen("validate", "--strict", "-q", cwd=echo)
    assert strict.exit_code == 1
    # -q still shows what fails the run.
    assert "[memory-replicas]" in strict.stderr
    assert strict.stderr.endswith("error: --strict: 1 warning(s) fail the run\n")
    render = run_kaosgen("render", "--strict", cwd=echo)
    assert render.exit_code == 1
    assert not (echo / "deploy").exists()
    assert run_kaosgen("hook", "validate", "--strict", "resources.yaml", cwd=echo).exit_code == 1


def test_a_project_can_turn_a_warning_rule_off(echo: Path) -> None:
    _with_warning(echo)
    config = echo / "kaosgen.yaml"
    config.write_text(
        config.read_text(encoding="utf-8") + "diagnostics:\n  ignore: [memory-replicas]\n",
        encoding="utf-8",
    )
    result = run_kaosgen("validate", "--strict", cwd=echo)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_notes_never_fail_a_strict_run(echo: Path) -> None:
    resources = echo / "resources.yaml"
    resources.write_text(
        resources.read_text(encoding="utf-8")
        + "  container:\n    resources:\n      requests: {memory: 300Mi}\n",
        encoding="utf-8",
    )
    result = run_kaosgen("validate", "--strict", cwd=echo)
    assert result.exit_code == 0, result.output
    assert "note: container.resources sets requests but no limits" in result.stderr
    assert result.stderr.endswith("0 error(s), 0 warning(s), 1 note(s)\n")
    assert run_kaosgen("validate", "-q", cwd=echo).stderr == ""


# --- colour --------------------------------------------------------------------------------


def _on_a_terminal(args: list[str], cwd: Path, **env: str) -> tuple[int, str]:
    """Run kaosgen with stderr on a pseudo-terminal; the exit code and what it printed."""
    main, child = pty.openpty()
    environment = tool_env(TERM="xterm", **env)
    if "NO_COLOR" not in env:
        environment.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [KAOSGEN, *args],
        cwd=cwd,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=child,
    )
    # The terminal stays open on our side until everything is read: a hangup (the last
    # writer closing it) may discard what the child wrote just before it exited.
    chunks = []
    while True:
        ready, _, _ = select.select([main], [], [], 0.05)
        if ready:
            chunks.append(os.read(main, 65536))
        elif proc.poll() is not None:
            break
    os.close(child)
    os.close(main)
    return proc.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


def test_colour_on_a_terminal_unless_no_color(echo: Path) -> None:
    _with_warning(echo)
    code, shown = _on_a_terminal(["validate"], echo)
    assert code == 0 and f"{ESC}1;33mwarning{ESC}0m" in shown, shown
    code, shown = _on_a_terminal(["validate"], echo, NO_COLOR="1")
    assert code == 0 and "warning:" in shown and not COLOUR.search(shown), shown
    # An explicit choice wins over NO_COLOR and over the terminal test.
    code, shown = _on_a_terminal(["validate", "--color", "always"], echo, NO_COLOR="1")
    assert f"{ESC}1;33mwarning" in shown, shown
    code, shown = _on_a_terminal(["validate", "--color=never"], echo)
    assert "warning:" in shown and not COLOUR.search(shown), shown


def test_colour_when_piped_only_if_asked(echo: Path) -> None:
    _with_warning(echo)
    assert ESC not in run_kaosgen("validate", cwd=echo).stderr
    assert (
        f"{ESC}1;33mwarning{ESC}0m" in run_kaosgen("validate", "--color", "always", cwd=echo).stderr
    )
    # diff takes the same option (and still accepts its old --no-color).
    run_kaosgen("render", cwd=echo)
    (echo / "kaosgen.yaml").write_text(
        (echo / "kaosgen.yaml").read_text(encoding="utf-8").replace("kaos-dev", "kaos-dev2"),
        encoding="utf-8",
    )
    colored = run_kaosgen("diff", "--color=always", cwd=echo)
    assert colored.exit_code == 1 and ESC in colored.stdout
    for plain in (run_kaosgen("diff", cwd=echo), run_kaosgen("diff", "--no-color", cwd=echo)):
        assert plain.exit_code == 1 and ESC not in plain.stdout and "kaos-dev2" in plain.stdout


# --- progress --------------------------------------------------------------------------------


def _big_project(root: Path, agents: int) -> Path:
    root.mkdir()
    docs = [
        "apiVersion: kaos.tools/v1alpha1\nkind: ModelAPI\nmetadata: {name: llm}\n"
        "spec: {mode: Hosted, hostedConfig: {model: 'smollm2:135m'}}\n"
    ]
    docs += [
        f"apiVersion: kaos.tools/v1alpha1\nkind: Agent\nmetadata: {{name: agent-{i}}}\n"
        "spec: {modelAPI: llm, model: 'smollm2:135m'}\n"
        for i in range(agents)
    ]
    (root / "agents.yaml").write_text("---\n".join(docs), encoding="utf-8")
    return root


def test_long_renders_show_progress_on_a_terminal_only(tmp_path: Path) -> None:
    project = _big_project(tmp_path / "big", 800)
    # However fast this machine renders 800 agents, the line is due at once.
    code, shown = _on_a_terminal(
        ["render", ".", "-o", "../out-tty"], project, KAOSGEN_PROGRESS_DELAY="0"
    )
    assert code == 0, shown
    assert "\r\x1b[Kkaosgen: " in shown  # the progress line, redrawn in place ...
    # ... and goes on while the files are compared and written (their YAML made meanwhile)
    assert "kaosgen: comparing files " in shown or "kaosgen: writing files " in shown
    last = shown.rsplit("\r\x1b[K", 1)[1]
    assert last.startswith("../out-tty: ")  # ... and erased before the summary
    piped = subprocess.run(
        [KAOSGEN, "render", ".", "-o", "../out-pipe"],
        cwd=project,
        env=tool_env(KAOSGEN_PROGRESS_DELAY="0"),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert piped.returncode == 0
    assert piped.stderr.startswith("../out-pipe: ") and "\r" not in piped.stderr
    # The output is the same either way.
    assert _tree(tmp_path / "out-tty") == _tree(tmp_path / "out-pipe")


def _tree(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in directory.rglob("*")
        if p.is_file()
    }


def test_progress_waits_half_a_second_and_redraws_ten_times_a_second() -> None:
    import io

    from kaosgen.progress import Progress

    now = [0.0]
    out = io.StringIO()
    progress = Progress(out, enabled=True, clock=lambda: now[0])
    progress("reading files")
    now[0] = 0.4
    progress("validating documents", 10, 100)
    assert out.getvalue() == ""  # short work prints nothing
    now[0] = 0.6
    progress("validating documents", 20, 100)
    now[0] = 0.65
    progress("validating documents", 30, 100)  # too soon to redraw
    now[0] = 0.8
    progress("writing YAML", 3, 9)
    progress.close()
    assert out.getvalue() == (
        "\r\x1b[Kkaosgen: validating documents 20/100\r\x1b[Kkaosgen: writing YAML 3/9\r\x1b[K"
    )
    off = io.StringIO()
    disabled = Progress(off, enabled=False, clock=lambda: 10.0)
    disabled("generating", 1, 2)
    disabled.close()
    assert off.getvalue() == ""


# --- -v ----------------------------------------------------------------------------------


def test_verbose_says_what_was_read_and_written(echo: Path) -> None:
    result = run_kaosgen("render", "-v", cwd=echo)
    assert result.exit_code == 0
    lines = result.stderr.splitlines()
    assert lines[:3] == [
        "project: kaosgen.yaml",
        "read: 1 file(s): 3 KAOS resource(s), 0 other document(s)",
        "output: deploy",
    ]
    assert "  + deploy/base/agents/echo-agent.yaml" in lines
    assert lines[-1] == "deploy: 9 added, 0 changed, 0 removed, 0 unchanged"
    build = run_kaosgen("build", "-v", "-e", "dev", cwd=echo)
    assert build.exit_code == 0
    objects = len(load_all(build.stdout))
    assert (
        f"built: overlays/dev: {objects} object(s), computed in memory (no kustomize run)"
        in build.stderr.splitlines()
    )


# --- version, python -m, completion ------------------------------------------------------------


def test_version_is_the_packages(tmp_path: Path) -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "version"
    ]
    assert version("kaosgen") == declared
    for command in ([KAOSGEN], [sys.executable, "-m", "kaosgen"]):
        proc = subprocess.run(
            [*command, "--version"], capture_output=True, text=True, check=False, cwd=tmp_path
        )
        assert (proc.returncode, proc.stdout) == (0, f"kaosgen, version {declared}\n")


def test_python_m_kaosgen_is_the_same_command(echo: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "kaosgen", "validate"],
        cwd=echo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (ok.returncode, ok.stderr) == (0, "")
    usage = subprocess.run(
        [sys.executable, "-m", "kaosgen", "render", "nope"],
        cwd=echo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert usage.returncode == 2 and usage.stderr.startswith("Usage: kaosgen render")


def test_the_executable_exits_without_losing_output(echo: Path) -> None:
    """`kaosgen` (cli.run) ends the process without tearing down what the command built:
    stdout and stderr must still arrive whole, through pipes, with the command's status,
    and say what the in-process command says."""
    for argv, status in (
        (["build", "--env", "dev"], 0),
        (["render", "-q"], 0),
        (["validate", "missing-file.yaml"], 2),
    ):
        proc = subprocess.run(
            [KAOSGEN, *argv], cwd=echo, capture_output=True, text=True, check=False
        )
        assert proc.returncode == status, proc.stderr
        assert "Traceback" not in proc.stderr
        if argv[0] == "build":
            in_process = run_kaosgen(*argv, cwd=echo)
            assert_no_traceback(in_process)
            assert proc.stdout == in_process.stdout and len(proc.stdout) > 10_000
    invalid = echo / "bad.yaml"
    invalid.write_text("apiVersion: kaos.tools/v1alpha1\nkind: Agent\nmetadata: {}\n")
    proc = subprocess.run(
        [KAOSGEN, "validate", "."], cwd=echo, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1 and "bad.yaml:" in proc.stderr
    assert proc.stderr.rstrip().endswith("warning(s)")  # the summary, the last line


def test_the_executable_with_closed_streams_and_a_narrow_encoding(echo: Path) -> None:
    """stdout or stderr closed when kaosgen starts (`>&-`, `2>&-`) is not an error; text
    the terminal's encoding cannot carry is one line and exit 2, never a traceback."""
    for redirect in (">&-", "2>&-"):
        proc = subprocess.run(
            ["sh", "-c", f'"$@" {redirect}', "sh", KAOSGEN, "validate", "."],
            cwd=echo,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, (redirect, proc.stderr)
        assert "Traceback" not in proc.stderr
    resources = echo / "resources.yaml"
    resources.write_text(
        resources.read_text(encoding="utf-8").replace(
            "instructions: |", "instructions: |\n      ✓ checked", 1
        ),
        encoding="utf-8",
    )
    proc = subprocess.run(
        [KAOSGEN, "build", "--env", "dev"],
        cwd=echo,
        env={**tool_env(), "PYTHONIOENCODING": "latin-1"},
        capture_output=True,
        text=True,
        encoding="latin-1",
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "cannot write '\\u2713'" in proc.stderr or "cannot write" in proc.stderr
    assert "PYTHONIOENCODING=utf-8" in proc.stderr


def test_ctrl_c_exits_130_and_says_so(echo: Path) -> None:
    """Ctrl-C (SIGINT) while kaosgen works: exit 130, as a shell reports a command that
    SIGINT ended, one line, no traceback. (`validate -` waits on stdin: deterministic.)"""
    import signal
    import time

    proc = subprocess.Popen(
        [KAOSGEN, "validate", "-"],
        cwd=echo,
        # As from a terminal: a test run started in the background (`pytest &`) has SIGINT
        # ignored, which children inherit (and then rightly keep ignoring).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Wait until it is blocked reading stdin (inside the command): on a busy machine
    # start-up alone can take longer than any fixed sleep.
    import platform

    read = {"x86_64": "0", "aarch64": "63", "arm64": "63"}.get(platform.machine())
    if read is None:
        proc.kill()
        pytest.skip(f"the read system call's number on {platform.machine()} is not known here")
    syscall = Path(f"/proc/{proc.pid}/syscall")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if syscall.read_text().startswith(f"{read} 0x0 "):  # read(0, ...)
                break
        except OSError:
            pytest.skip("needs /proc/<pid>/syscall (Linux)")
        time.sleep(0.02)
    else:
        proc.kill()
        pytest.fail("kaosgen never waited on stdin")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert (proc.returncode, err.strip()) == (130, "interrupted"), (proc.returncode, err)


def test_the_executable_lets_a_running_thread_finish_and_runs_atexit(tmp_path: Path) -> None:
    """The fast exit (no clean-up of what a command built) is taken only when no other
    thread runs: a thread still writing finishes, as at a normal exit. `atexit` handlers
    run either way (a library's temporary files: the kubernetes client's copies of a
    kubeconfig's client key are removed by one)."""
    script = tmp_path / "probe.py"
    script.write_text(
        "import atexit, sys, threading, time\n"
        "from pathlib import Path\n"
        "from kaosgen import cli\n"
        "from kaosgen.commands import common\n"
        "out, mode = Path(sys.argv[1]), sys.argv[2]\n"
        "atexit.register(lambda: (out / 'atexit').write_text('ran'))\n"
        "def slow():\n"
        "    time.sleep(0.5)\n"
        "    (out / 'thread').write_text('finished')\n"
        "@cli.main.command('probe')\n"
        "def probe():\n"
        "    common.keep_until_exit(object())\n"
        "    if mode == 'thread':\n"
        "        threading.Thread(target=slow).start()\n"
        "    sys.exit(3)\n"
        "sys.argv = ['kaosgen', 'probe']\n"
        "cli.run()\n",
        encoding="utf-8",
    )
    for mode in ("thread", "alone"):
        out = tmp_path / mode
        out.mkdir()
        proc = subprocess.run(
            [sys.executable, str(script), str(out), mode],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 3, proc.stderr
        assert (out / "atexit").read_text() == "ran"
        assert (out / "thread").exists() == (mode == "thread")


def test_status_leaves_no_copy_of_a_client_key(tmp_path: Path, echo: Path) -> None:
    """A kubeconfig with embedded client credentials (kind, k3s): the kubernetes client
    copies them to temporary files and removes them at exit; none may be left."""
    import base64

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "k.pem",
            "-out",
            "c.pem",
            "-subj",
            "/CN=kaosgen-test",
            "-days",
            "2",
        ],
        cwd=tmp_path,
        capture_output=True,
        check=True,
    )
    cert = base64.b64encode((tmp_path / "c.pem").read_bytes()).decode()
    key = base64.b64encode((tmp_path / "k.pem").read_bytes()).decode()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        f"clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:1', certificate-authority-data: {cert}}}}}]\n"
        f"users: [{{name: u, user: {{client-certificate-data: {cert}, client-key-data: {key}}}}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n",
        encoding="utf-8",
    )
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.run(
        [KAOSGEN, "status", ".", "--env", "dev", "--kubeconfig", str(kubeconfig)],
        cwd=echo,
        env={**tool_env(), "TMPDIR": str(scratch)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert list(scratch.iterdir()) == []


def _shell(shell: str) -> str:
    found = shutil.which(shell)
    if found is None:
        pytest.skip(f"{shell} is not installed (.ci/run installs it)")
    return found


def _completion_env() -> dict[str, str]:
    return tool_env(PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def test_bash_completion_completes(tmp_path: Path) -> None:
    bash = _shell("bash")
    shutil.copytree(ECHO, tmp_path / "echo", ignore=shutil.ignore_patterns("deploy"))

    def complete(words: str, cwd: Path = tmp_path) -> list[str]:
        script = (
            "source <(kaosgen completion bash)\n"
            f"COMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n"
            '_kaosgen_completion kaosgen\nprintf "%s\\n" "${COMPREPLY[@]}"\n'
        )
        proc = subprocess.run(
            [bash, "-c", script],
            cwd=cwd,
            env=_completion_env(),
            capture_output=True,
            text=True,
            check=True,
        )
        return [line for line in proc.stdout.splitlines() if line]

    assert complete("kaosgen val") == ["validate"]
    assert "completion" in complete("kaosgen ''")
    assert complete("kaosgen render --col") == ["--color"]
    assert complete("kaosgen render --color ''") == ["auto", "always", "never"]
    assert complete("kaosgen build echo --env ''") == ["dev", "prod"]


def test_zsh_completion_registers_and_answers(tmp_path: Path) -> None:
    zsh = _shell("zsh")
    script = (
        "autoload -U compinit; compinit -u -d $PWD/.zcompdump\n"
        'eval "$(kaosgen completion zsh)"\nprint -r -- $_comps[kaosgen]\n'
    )
    env = _completion_env() | {"HOME": str(tmp_path)}
    proc = subprocess.run(
        [zsh, "-f", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "_kaosgen_completion"
    # What the script asks kaosgen for, and the answer it gets (zsh's protocol).
    answer = subprocess.run(
        [KAOSGEN],
        env=env
        | {"_KAOSGEN_COMPLETE": "zsh_complete", "COMP_WORDS": "kaosgen sta", "COMP_CWORD": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert answer.stdout.splitlines()[:2] == ["plain", "status"]


def test_fish_completion_completes(tmp_path: Path) -> None:
    fish = _shell("fish")
    shutil.copytree(ECHO, tmp_path / "echo", ignore=shutil.ignore_patterns("deploy"))
    env = _completion_env() | {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config")}

    def complete(line: str) -> list[str]:
        script = f"kaosgen completion fish | source; complete -C '{line}'"
        proc = subprocess.run(
            [fish, "--no-config", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return [entry.split("\t")[0] for entry in proc.stdout.splitlines()]

    assert complete("kaosgen gra") == ["graph"]
    assert complete("kaosgen status echo -e ") == ["dev", "prod"]
