"""A Kubernetes API server on loopback that replays recorded Deployment lists.

It answers `GET /apis/apps/v1/namespaces/<ns>/deployments` with
`tests/cli/data/deployments-<ns>.json` (the API server's own response shape; an empty
list for other namespaces) and records every request, so a test can also prove that a
command is read-only. The real kubernetes client talks to it through a kubeconfig.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

DATA = Path(__file__).resolve().parents[1] / "cli" / "data"


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


def write_kubeconfig(path: Path, server: str, contexts: dict[str, str], current: str) -> Path:
    """A kubeconfig for `server` with the given contexts (name -> default namespace)."""
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "replay", "cluster": {"server": server}}],
                "users": [{"name": "viewer", "user": {"token": "test-token"}}],
                "contexts": [
                    {
                        "name": name,
                        "context": {"cluster": "replay", "user": "viewer", "namespace": ns},
                    }
                    for name, ns in contexts.items()
                ],
                "current-context": current,
            }
        ),
        encoding="utf-8",
    )
    return path
