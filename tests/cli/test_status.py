"""`kaosgen status` against an API server on loopback that replays Deployment lists.

The server answers the `list deployments` endpoint with the JSON in `data/` (the API
server's own response shape) and records every request, so the test also proves the
command is read-only. The real kubernetes client talks to it through a kubeconfig.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from support.devtools import REPO, kaosgen, tool_env

DATA = Path(__file__).parent / "data"
ECHO = REPO / "examples" / "echo"


class FakeApiServer:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                outer.requests.append(("GET", url.path, parse_qs(url.query)))
                parts = url.path.strip("/").split("/")
                if (
                    parts[:3] == ["apis", "apps", "v1"]
                    and parts[3] == "namespaces"
                    and parts[5:] == ["deployments"]
                ):
                    recorded = DATA / f"deployments-{parts[4]}.json"
                    if recorded.exists():
                        self._reply(200, json.loads(recorded.read_text(encoding="utf-8")))
                    else:
                        self._reply(
                            200,
                            {
                                "kind": "DeploymentList",
                                "apiVersion": "apps/v1",
                                "metadata": {},
                                "items": [],
                            },
                        )
                    return
                self._reply(
                    404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404}
                )

            def _refuse(self) -> None:
                outer.requests.append((self.command, self.path, {}))
                self._reply(405, {"kind": "Status", "status": "Failure", "code": 405})

            do_POST = do_PUT = do_PATCH = do_DELETE = _refuse

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[FakeApiServer, Path]]:
    server = FakeApiServer()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "replay", "cluster": {"server": server.url}}],
                "users": [{"name": "viewer", "user": {"token": "test-token"}}],
                "contexts": [
                    {
                        "name": "replay",
                        "context": {"cluster": "replay", "user": "viewer", "namespace": "kaos-dev"},
                    },
                    {
                        "name": "other",
                        "context": {
                            "cluster": "replay",
                            "user": "viewer",
                            "namespace": "elsewhere",
                        },
                    },
                ],
                "current-context": "other",
            }
        ),
        encoding="utf-8",
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
    assert proc.returncode == 2 and "cannot reach the API server" in proc.stderr
    assert "Traceback" not in proc.stderr
    missing = kaosgen(
        "status", str(ECHO), "--env", "dev", "--kubeconfig", str(tmp_path / "nope"), cwd=REPO
    )
    assert missing.returncode == 2 and "kubeconfig" in missing.stderr
