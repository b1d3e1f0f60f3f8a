"""`kaosgen status` against an API server on loopback that replays Deployment lists
(`support/fake_apiserver.py`), and against clusters that cannot be reached."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.compiler import assert_no_traceback, run_kaosgen
from support.devtools import REPO, kaosgen, tool_env
from support.fake_apiserver import FakeApiServer, write_kubeconfig

DATA = Path(__file__).parent / "data"
ECHO = REPO / "examples" / "echo"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[FakeApiServer, Path]]:
    server = FakeApiServer()
    kubeconfig = write_kubeconfig(
        tmp_path / "kubeconfig",
        server.url,
        {"replay": "kaos-dev", "other": "elsewhere"},
        current="other",
    )
    yield server, kubeconfig
    server.close()


def test_status_shows_the_kaos_phase_of_each_workload(api: tuple[FakeApiServer, Path]) -> None:
    server, kubeconfig = api
    proc = kaosgen(
        "status",
        str(ECHO),
        "--env",
        "prod",
        "--kubeconfig",
        str(kubeconfig),
        "--context",
        "replay",
        cwd=REPO,
    )
    assert proc.returncode == 1, proc.stderr  # not everything is Ready
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert rows[0][:7] == ["KIND", "NAME", "NAMESPACE", "PHASE", "READY", "UP-TO-DATE", "AVAILABLE"]
    by_name = {row[1]: row for row in rows[1:]}
    assert by_name["smollm2"][:7] == ["ModelAPI", "smollm2", "kaos-prod", "Ready", "1/1", "1", "1"]
    assert by_name["echo-tools"][:7] == [
        "MCPServer",
        "echo-tools",
        "kaos-prod",
        "Pending",
        "0/2",
        "2",
        "0",
    ]
    assert "Available: MinimumReplicasUnavailable" in proc.stdout
    assert by_name["echo-agent"][:5] == ["Agent", "echo-agent", "kaos-prod", "Failed", "0/2"]
    assert "Progressing: ProgressDeadlineExceeded" in proc.stdout
    # Read-only: one list per namespace, nothing else.
    assert [(m, p) for m, p, _ in server.requests] == [
        ("GET", "/apis/apps/v1/namespaces/kaos-prod/deployments")
    ]
    assert server.requests[0][2]["labelSelector"] == ["app in (agent,modelapi,mcpserver)"]


def test_status_json_ready_and_missing(api: tuple[FakeApiServer, Path]) -> None:
    server, kubeconfig = api
    env = tool_env(KUBECONFIG=str(kubeconfig))
    proc = kaosgen(
        "status",
        str(ECHO),
        "--env",
        "dev",
        "--context",
        "replay",
        "--format",
        "json",
        cwd=REPO,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr  # everything Ready
    rows = {r["name"]: r for r in json.loads(proc.stdout)["workloads"]}
    assert {r["phase"] for r in rows.values()} == {"Ready"}
    assert rows["echo-agent"]["deployment"] == "agent-echo-agent"
    assert {c["type"] for c in rows["echo-agent"]["conditions"]} == {"Available", "Progressing"}
    # --namespace overrides the environment; an empty namespace: every workload Missing.
    proc = kaosgen("status", str(ECHO), "-n", "empty", "--context", "replay", cwd=REPO, env=env)
    assert proc.returncode == 1
    assert proc.stdout.count("Missing") == 3 and "Deployment not found" in proc.stdout
    assert all(method == "GET" for method, _, _ in server.requests)


def test_status_errors(api: tuple[FakeApiServer, Path], tmp_path: Path) -> None:
    _, kubeconfig = api
    proc = kaosgen("status", str(ECHO), "--kubeconfig", str(kubeconfig), cwd=REPO)
    assert proc.returncode == 2 and "choose an environment with --env (dev, prod)" in proc.stderr
    dead = tmp_path / "dead"
    dead.write_text(
        kubeconfig.read_text(encoding="utf-8").replace("127.0.0.1", "127.0.0.1:1#"),
        encoding="utf-8",
    )
    closed = json.loads(kubeconfig.read_text(encoding="utf-8"))
    closed["clusters"][0]["cluster"]["server"] = (
        "http://127.0.0.1:9"  # discard port: nothing listens
    )
    dead.write_text(json.dumps(closed), encoding="utf-8")
    proc = kaosgen("status", str(ECHO), "--env", "dev", "--kubeconfig", str(dead), cwd=REPO)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (
        f"error: cannot reach the API server http://127.0.0.1:9 (kubeconfig {dead}, "
        "context other): [Errno 111] Connection refused\n"
    )
    missing = kaosgen(
        "status", str(ECHO), "--env", "dev", "--kubeconfig", str(tmp_path / "nope"), cwd=REPO
    )
    assert missing.returncode == 2
    assert missing.stderr.startswith(f"error: cannot load the kubeconfig {tmp_path / 'nope'}: ")


def _kubeconfig(path: Path, server: str) -> Path:
    return write_kubeconfig(path, server, {"gone": "default"}, current="gone")


@pytest.fixture
def blackhole() -> Iterator[str]:
    """An address whose SYNs are dropped: a listener with a full accept queue."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    queued = []
    for _ in range(3):  # the queue holds one; the next connection attempts hang
        probe = socket.socket()
        probe.settimeout(0.2)
        with contextlib.suppress(OSError):
            probe.connect(("127.0.0.1", port))
        queued.append(probe)
    yield f"https://127.0.0.1:{port}"
    for probe in queued:
        probe.close()
    listener.close()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.mark.parametrize("kind", ["blackhole", "silent_server"])
def test_status_gives_up_on_an_unreachable_cluster_within_2_seconds(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The default --request-timeout (1s) bounds the wait whatever the network does, and
    the message names the server and the kubeconfig it read. Timed in-process, so the
    figure is the command's own work (imports are warmed up first)."""
    server = request.getfixturevalue(kind)
    kubeconfig = _kubeconfig(tmp_path / "kubeconfig", server)
    refused = _kubeconfig(tmp_path / "refused", "http://127.0.0.1:9")
    run_kaosgen("status", ECHO, "--env", "dev", "--kubeconfig", refused)  # warm imports
    started = time.monotonic()
    result = run_kaosgen("status", ECHO, "--env", "dev", "--kubeconfig", kubeconfig)
    elapsed = time.monotonic() - started
    assert_no_traceback(result)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: no answer from the API server {server} (kubeconfig {kubeconfig}, "
        "context gone) within 1s\n"
    )
    assert elapsed < 2.0, elapsed
    # A longer --request-timeout waits longer (the bound is the user's choice).
    started = time.monotonic()
    longer = run_kaosgen(
        "status", ECHO, "--env", "dev", "--kubeconfig", kubeconfig, "--request-timeout", "1500ms"
    )
    assert longer.exit_code == 2 and "within 1.5s" in longer.stderr
    assert 1.4 < time.monotonic() - started < 3.0


def test_status_reads_a_kubeconfig_list_and_says_which(
    api: tuple[FakeApiServer, Path], tmp_path: Path
) -> None:
    """KUBECONFIG may list several files (kubectl merges them); -v names what was read."""
    _, kubeconfig = api
    extra = tmp_path / "extra"
    extra.write_text(json.dumps({"apiVersion": "v1", "kind": "Config"}), encoding="utf-8")
    listed = f"{extra}{os.pathsep}{kubeconfig}"
    env = tool_env(KUBECONFIG=listed)
    proc = kaosgen(
        "status", str(ECHO), "--env", "dev", "--context", "replay", "-v", cwd=REPO, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert f"kubeconfig: {listed}\n" in proc.stderr
    assert "namespaces: kaos-dev\n" in proc.stderr
    assert "project: examples/echo/kaosgen.yaml\n" in proc.stderr
