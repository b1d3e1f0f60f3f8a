"""Runtime image size and start-up time, beside the same programs started from a venv.

Builds both images the way the tests do (tests/support/image_build.py: mmdebstrap root
filesystem + the wheel `uv build` makes, umoci; no Docker daemon), then starts each under
podman with examples/echo's rendered pod security and env (uid 65532, read-only root,
/tmp tmpfs, no capabilities) and times container start -> first 200 from GET /health,
median of N runs. For comparison the same entry point (`kaos-agent`, `kaos-mcp-server`)
started from this checkout's venv on the host, and python:3.11-slim's published size.
Needs root, mmdebstrap, umoci, bubblewrap and podman (.ci/run installs them).

    uv run python bench/images.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from ruamel.yaml import YAML  # noqa: E402
from support import image_build, wheels  # noqa: E402
from support.podman import Podman, pod_flags  # noqa: E402
from support.process import free_port  # noqa: E402

ECHO = REPO / "examples" / "echo" / "deploy" / "base"
DEPLOYMENTS = {
    "agent": ECHO / "agents" / "echo-agent.yaml",
    "mcp-server": ECHO / "mcpservers" / "echo-tools.yaml",
}
#: Host-only settings: the agent must not wait for the example's model and MCP server.
AGENT_ALONE = {"WAIT_FOR_DEPENDENCIES": "false", "MCP_SERVERS": ""}


def wait_healthy(url: str, timeout: float = 120) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.02)
    raise TimeoutError(url)


def rendered_env(target: str) -> tuple[list[str], dict[str, str]]:
    doc = next(
        d
        for d in YAML(typ="safe").load_all(DEPLOYMENTS[target].read_text())
        if d["kind"] == "Deployment"
    )
    flags, env = pod_flags(doc)
    return flags, {**env, **(AGENT_ALONE if target == "agent" else {})}


def container_start(podman: Podman, target: str, network: str, runs: int) -> list[float]:
    flags, env = rendered_env(target)
    env_flags = [f for k, v in env.items() for f in ("--env", f"{k}={v}")]
    times = []
    for i in range(runs):
        name = f"bench-{target}-{i}-{time.monotonic_ns()}"
        start = time.monotonic()
        podman.run(
            f"localhost/kaos-{target}:bench", [*flags, *env_flags, "--network", network], name
        )
        url = f"http://{podman.ip(name, network)}:8000/health"
        wait_healthy(url)
        times.append(time.monotonic() - start)
        podman("rm", "--force", "--time", "2", name, check=False)
    return times


def host_start(target: str, runs: int) -> list[float]:
    _, env = rendered_env(target)
    script = Path(sys.executable).parent / f"kaos-{target}"
    times = []
    for _ in range(runs):
        port = free_port()
        full = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", **env}
        full["AGENT_PORT" if target == "agent" else "MCP_PORT"] = str(port)
        start = time.monotonic()
        proc = subprocess.Popen(
            [str(script)], env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_healthy(f"http://127.0.0.1:{port}/health")
            times.append(time.monotonic() - start)
        finally:
            proc.terminate()
            proc.wait(10)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if missing := image_build.missing_tools():
        parser.error("missing: " + ", ".join(missing))
    with tempfile.TemporaryDirectory(prefix="kaosgen-bench-images-") as tmp:
        work = Path(tmp)
        wheel, _ = wheels.build_dists(work / "dist")
        house = wheels.build_wheelhouse(work / "wheelhouse", extras=("runtime",))
        start = time.monotonic()
        built = image_build.build_images(wheel, house, work / "oci")
        total = time.monotonic() - start
        print("build (no Docker daemon):")
        for step, took in built.seconds.items():
            print(f"  {step:<50} {took:6.1f} s")
        print(f"  {'total':<50} {total:6.1f} s")
        print("size (both images share every layer; only the config differs):")
        print(
            f"  compressed layers (what a node pulls)            {built.layer_bytes / 1e6:6.0f} MB"
        )
        print(
            f"  unpacked root filesystem                         {built.rootfs_bytes / 1e6:6.0f} MB"
        )
        print(
            "  for comparison: python:3.11-slim-bookworm alone  ~  45 MB compressed, ~125 MB unpacked"
        )

        podman = Podman(work / "podman")
        try:
            for target in image_build.TARGETS:
                podman.load(built.layout, target, f"localhost/kaos-{target}:bench")
            if not podman.choose_runtime("localhost/kaos-agent:bench"):
                sys.exit("podman runs no container here")
            network, _ = podman.network()
            print(
                f"start-up to the first 200 from /health, median of {args.runs} (runtime {podman.runtime}):"
            )
            for target in image_build.TARGETS:
                in_container = statistics.median(
                    container_start(podman, target, network, args.runs)
                )
                on_host = statistics.median(host_start(target, args.runs))
                print(
                    f"  kaos-{target:<11} container {in_container:5.2f} s   "
                    f"same entry point from the venv {on_host:5.2f} s"
                )
        finally:
            podman.cleanup()


if __name__ == "__main__":
    main()
