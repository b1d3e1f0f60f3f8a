"""The runtime images, built without a Docker daemon and run the way a rendered pod runs them.

Built by `support/image_build.py` (mmdebstrap root filesystem, uv under bubblewrap with no
network, umoci) from the wheel `uv build` makes; run by podman with the flags
`support/podman.py` derives from examples/echo's rendered Deployments: uid 65532, read-only
root filesystem, a tmpfs at /tmp only, all capabilities dropped, no privilege escalation,
and the rendered env unchanged. The service names in that env resolve (`--add-host`) to the
MCP server's container and to the scripted model on the test network's gateway.

Needs root, mmdebstrap, umoci, bubblewrap and podman (.ci/run installs them and sets
KAOSGEN_REQUIRE_IMAGES=1, which turns a skip into a failure). The first build on a machine
downloads Debian's packages once (`image_build.py --warm-cache`, run by .ci/run); later ones
reuse the cached root filesystem: about 1.5 min for both images here.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import tomllib
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from support import image_build
from support.dockerfile import image_config
from support.podman import Podman, pod_flags
from support.podman import missing as podman_missing
from support.scripted_model import Reply, ScriptedModel

REPO = Path(__file__).resolve().parents[2]
ECHO = REPO / "examples" / "echo" / "deploy" / "base"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
REQUIRED = os.environ.get("KAOSGEN_REQUIRE_IMAGES") == "1"


def unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"KAOSGEN_REQUIRE_IMAGES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def images(tmp_path_factory, dists, wheelhouse) -> image_build.BuiltImages:
    if missing := image_build.missing_tools() + podman_missing():
        unavailable("cannot build and run images here: missing " + ", ".join(missing))
    wheel, _ = dists
    try:
        return image_build.build_images(wheel, wheelhouse, tmp_path_factory.mktemp("oci") / "oci")
    except image_build.ColdCache as exc:
        unavailable(str(exc))
        raise


@pytest.fixture(scope="module")
def podman(images, tmp_path_factory) -> Iterator[Podman]:
    tool = Podman(tmp_path_factory.mktemp("podman"))
    tool.load(images.layout, "agent", "localhost/kaos-agent:test")
    tool.load(images.layout, "mcp-server", "localhost/kaos-mcp-server:test")
    if not tool.choose_runtime("localhost/kaos-agent:test"):
        unavailable("podman runs no container here (neither crun nor runc)")
    try:
        yield tool
    finally:
        tool.cleanup()


def rendered(path: Path) -> dict:
    return next(d for d in YAML(typ="safe").load_all(path.read_text()) if d["kind"] == "Deployment")


@pytest.mark.parametrize("target", image_build.TARGETS)
def test_image_config_is_the_dockerfiles(images, target) -> None:
    """Same user, working directory, env, entry point and port as `docker build --target`."""
    built = image_build.config(images.layout, target)["config"]
    expected = image_config(target)
    assert built["User"] == expected.user == "65532:65532"
    assert built["WorkingDir"] == expected.workdir == "/tmp"
    assert built["Cmd"] == expected.cmd == [f"kaos-{target}"]
    assert sorted(built["ExposedPorts"]) == expected.exposed == ["8000/tcp"]
    env = dict(item.split("=", 1) for item in built["Env"])
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert {k: v for k, v in env.items() if k != "PATH"} == {
        k: v for k, v in expected.env.items() if k != "PATH"
    }


@pytest.fixture(scope="module")
def pod(podman: Podman) -> Iterator[dict]:
    """examples/echo's MCP server and agent, each as its rendered Deployment says."""
    network, gateway = podman.network()
    suffix = uuid.uuid4().hex[:6]
    mcp_flags, mcp_env = pod_flags(rendered(ECHO / "mcpservers" / "echo-tools.yaml"))
    agent_flags, agent_env = pod_flags(rendered(ECHO / "agents" / "echo-agent.yaml"))
    env_flags = lambda env: [f for k, v in env.items() for f in ("--env", f"{k}={v}")]  # noqa: E731
    mcp = podman.run(
        "localhost/kaos-mcp-server:test",
        [*mcp_flags, *env_flags(mcp_env), "--network", network],
        f"mcp-{suffix}",
    )
    mcp_ip = podman.ip(mcp, network)
    # The rendered MODEL_API_URL is http://modelapi-smollm2:11434: the model listens there.
    model = ScriptedModel(host=gateway, port=11434).start()
    hosts = ["--add-host", f"modelapi-smollm2:{gateway}"]
    hosts += ["--add-host", f"mcpserver-echo-tools:{mcp_ip}"]
    agent = podman.run(
        "localhost/kaos-agent:test",
        [*agent_flags, *env_flags(agent_env), "--network", network, *hosts],
        f"agent-{suffix}",
    )
    agent_ip = podman.ip(agent, network)
    try:
        yield {
            "model": model,
            "agent": agent,
            "mcp": mcp,
            "agent_url": f"http://{agent_ip}:8000",
            "mcp_url": f"http://{mcp_ip}:8000",
            "podman": podman,
        }
    finally:
        model.stop()


def get(url: str, timeout: float = 60) -> tuple[int, dict]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            if time.monotonic() > deadline:
                return exc.code, json.loads(exc.read() or b"{}")
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def test_agent_image_answers_health_and_ready(pod) -> None:
    status, health = get(f"{pod['agent_url']}/health")
    assert (status, health) == (200, {"status": "ok", "agent": "echo-agent", "version": VERSION})
    status, ready = get(f"{pod['agent_url']}/ready")
    assert status == 200, (ready, pod["podman"].logs(pod["agent"]))
    _, card = get(f"{pod['agent_url']}/.well-known/agent.json")
    assert card["version"] == VERSION


def test_agent_image_chats_through_the_mcp_image(pod) -> None:
    """A chat with one tool call: model -> agent -> MCP server container -> model -> answer."""
    model: ScriptedModel = pod["model"]
    model.push(
        Reply.tool_call("echo", {"text": "hello from the image"}),
        Reply.text("The tool said: hello from the image"),
    )
    get(f"{pod['agent_url']}/ready")
    request = urllib.request.Request(
        f"{pod['agent_url']}/v1/chat/completions",
        data=json.dumps(
            {"model": "echo-agent", "messages": [{"role": "user", "content": "say hello"}]}
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.load(response)
    assert answer["choices"][0]["message"]["content"] == "The tool said: hello from the image"
    tool_results = [m for m in model.requests[-1]["messages"] if m.get("role") == "tool"]
    assert "hello from the image" in json.dumps(tool_results), model.requests[-1]
    assert model.requests[0]["model"] == "smollm2:135m"  # the rendered MODEL_NAME, as Ollama's


def test_mcp_image_answers_a_tool_call(pod) -> None:
    import anyio
    from fastmcp import Client

    status, health = get(f"{pod['mcp_url']}/health")
    assert status == 200 and health["version"] == VERSION

    async def call() -> str:
        async with Client(f"{pod['mcp_url']}/mcp", timeout=30) as client:
            result = await client.call_tool("echo", {"text": "straight to the tool"})
            return result.content[0].text

    assert anyio.run(call) == "straight to the tool"


@pytest.mark.parametrize("which", ["agent", "mcp"])
def test_containers_run_confined_as_the_pod_spec_says(pod, which) -> None:
    """Inside the running containers: uid/gid 65532, no capabilities, no new privileges,
    the root filesystem read-only, /tmp writable."""
    podman: Podman = pod["podman"]
    probe = (
        "import os, json\n"
        "status = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)\n"
        "def writable(p):\n"
        "    try:\n"
        "        open(p, 'w').close(); os.unlink(p); return True\n"
        "    except OSError:\n"
        "        return False\n"
        "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'cap': status['CapEff'].strip(),\n"
        "  'nnp': status['NoNewPrivs'].strip(), 'seccomp': status['Seccomp'].strip(),\n"
        "  'tmp': writable('/tmp/probe'), 'venv': writable('/opt/venv/probe'), 'root': writable('/probe')}))\n"
    )
    proc = podman.exec(pod[which], "python", "-c", probe)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen == {
        "uid": 65532,
        "gid": 65532,
        "cap": "0000000000000000",
        "nnp": "1",
        "seccomp": "2",
        "tmp": True,
        "venv": False,
        "root": False,
    }


def test_image_layout_matches_the_dockerfile(pod) -> None:
    """The venv, its python and both entry points where the Dockerfile puts them; the
    installed kaosgen distribution is the wheel's version."""
    podman: Podman = pod["podman"]
    proc = podman.exec(
        pod["agent"],
        "python",
        "-c",
        "import shutil, sys; from importlib import metadata;"
        "print(sys.prefix, shutil.which('kaos-agent'), shutil.which('kaos-mcp-server'),"
        " metadata.version('kaosgen'))",
    )
    assert proc.stdout.split() == [
        "/opt/venv",
        "/opt/venv/bin/kaos-agent",
        "/opt/venv/bin/kaos-mcp-server",
        VERSION,
    ], proc.stderr


def test_no_image_tool_left_behind(images) -> None:
    assert shutil.which("umoci")  # built by the fixture; sanity for the skip logic
    assert images.layer_bytes > 0 and images.rootfs_bytes > images.layer_bytes
