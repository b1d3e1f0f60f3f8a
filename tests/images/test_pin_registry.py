"""`kaosgen images pin` against a real registry on loopback (Debian's docker-registry).

Images are pushed in the test (a config blob, a layer, a manifest; or an OCI index over two
platforms) and their digests computed from the bytes sent, so a pinned digest is checked
against what was pushed, not against what the registry says. Then `kaosgen render` and the
real `kubectl kustomize` show every Deployment running `image@digest`.

Three registries: anonymous plain HTTP; TLS with htpasswd (Basic) users; and token
authentication with a loopback token server (the distribution spec's Bearer flow: the
registry's `WWW-Authenticate` challenge, a token from the realm, the retried request).
"""

from __future__ import annotations

import difflib
import json
import os
import socket
import stat
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.compiler import assert_no_traceback, build_overlay, run_kaosgen
from support.devtools import kaosgen as kaosgen_subprocess
from support.oci_registry import Registry, start_registry
from support.process import free_port

from kaosgen import images

ECHO = (Path(__file__).resolve().parents[2] / "examples/echo/resources.yaml").read_text()


@pytest.fixture(autouse=True)
def isolated_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never read the developer's ~/.docker/config.json; never go through a proxy."""
    config_dir = tmp_path / "docker-config"
    config_dir.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    real_getaddrinfo = socket.getaddrinfo

    def loopback_only(host: object, *args: object, **kwargs: object) -> object:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise AssertionError(f"a test asked for {host!r}: only loopback registries here")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    return config_dir


def write_docker_config(directory: Path, data: dict) -> None:
    (directory / "config.json").write_text(json.dumps(data))


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with start_registry(tmp_path_factory.mktemp("plain-registry")) as registry:
        yield registry


@pytest.fixture(scope="module")
def tls_basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with start_registry(
        tmp_path_factory.mktemp("tls-registry"), tls=True, htpasswd={"alice": "s3cret"}
    ) as registry:
        yield registry


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    users = {"pusher": ("push-pw", ["pull", "push"]), "reader": ("read-pw", ["pull"])}
    with start_registry(tmp_path_factory.mktemp("token-registry"), token_users=users) as registry:
        yield registry


def all_images(ref: str) -> str:
    """kaosgen.yaml `images:` running `ref` for every workload of the echo example: a test
    must never ask a registry off this machine."""
    return f"images:\n  agent: {ref}\n  mcpServer: {ref}\n  ollama: {ref}\n"


def project(root: Path, settings: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "kaosgen.yaml").write_text(
        "# The echo example, with its images in a loopback registry.\n"
        "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n" + textwrap.dedent(settings)
    )
    (root / "resources.yaml").write_text(ECHO)
    return root


def digests_of(root: Path) -> dict[str, str]:
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load((root / "kaosgen.yaml").read_text())
    return dict((data.get("images") or {}).get("digests") or {})


def deployment_images(overlay: Path) -> dict[str, list[str]]:
    return {
        obj["metadata"]["name"]: [c["image"] for c in images.containers(obj)]
        for obj in build_overlay(overlay)
        if obj["kind"] == "Deployment"
    }


# --- an anonymous registry --------------------------------------------------------------


def test_pin_then_render_runs_every_image_by_digest(plain: Registry, tmp_path: Path) -> None:
    agent = plain.push_image("kaosgen/agent", "1.0", content="agent 1.0")
    agent_next = plain.push_image("kaosgen/agent", "1.1", content="agent 1.1")
    ollama = plain.push_image("kaosgen/ollama", "1.0", content="ollama")
    mcp_index, mcp_platforms = plain.push_index("kaosgen/mcp", "1.0")
    host = plain.host
    root = project(
        tmp_path / "p",
        f"""\
        images:
          agent: {host}/kaosgen/agent:1.0   # the agent runtime
          mcpServer: {host}/kaosgen/mcp:1.0
          ollama: {host}/kaosgen/ollama:1.0
        environments:
          dev:
            namespace: dev
          prod:
            namespace: prod
            registry: mirror.example.com
            images:
              agent: {host}/kaosgen/agent:1.1
        """,
    )
    before = (root / "kaosgen.yaml").read_text()

    result = run_kaosgen("images", "pin", root)
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    assert digests_of(root) == {
        f"{host}/kaosgen/agent:1.0": agent,
        f"{host}/kaosgen/agent:1.1": agent_next,
        f"{host}/kaosgen/mcp:1.0": mcp_index,  # the index, not one platform's manifest
        f"{host}/kaosgen/ollama:1.0": ollama,
    }
    assert mcp_index not in mcp_platforms
    assert f"pinned {host}/kaosgen/mcp:1.0@{mcp_index}" in result.stdout
    after = (root / "kaosgen.yaml").read_text()
    changes = difflib.ndiff(before.splitlines(), after.splitlines())
    assert not [line for line in changes if line.startswith("- ")], "pin may only add lines"

    assert run_kaosgen("images", "pin", root, "--check").exit_code == 0
    assert run_kaosgen("render", root).exit_code == 0
    dev = deployment_images(root / "deploy/overlays/dev")
    assert dev["agent-echo-agent"] == [f"{host}/kaosgen/agent:1.0@{agent}"]
    assert dev["mcpserver-echo-tools"] == [f"{host}/kaosgen/mcp:1.0@{mcp_index}"]
    assert dev["modelapi-smollm2"] == [f"{host}/kaosgen/ollama:1.0@{ollama}"] * 2
    prod = deployment_images(root / "deploy/overlays/prod")
    assert prod["agent-echo-agent"] == [f"mirror.example.com/kaosgen/agent:1.1@{agent_next}"]
    assert prod["mcpserver-echo-tools"] == [f"mirror.example.com/kaosgen/mcp:1.0@{mcp_index}"]
    listing = run_kaosgen("images", root, "--format", "json").json()
    assert all(i["pinned"] for e in listing["environments"].values() for i in e["images"])

    # Pinned digests are a lock: a moved tag changes nothing until --update.
    moved = plain.push_image("kaosgen/agent", "1.0", content="agent 1.0, rebuilt")
    again = run_kaosgen("images", "pin", root)
    assert again.exit_code == 0, again.output
    assert (root / "kaosgen.yaml").read_text() == after
    assert "0 pinned, 0 removed, 4 unchanged" in again.stderr
    update = run_kaosgen("images", "pin", root, "--update", "--format", "json")
    assert update.exit_code == 0, update.output
    assert update.json()["pinned"] == {f"{host}/kaosgen/agent:1.0": moved}
    assert digests_of(root)[f"{host}/kaosgen/agent:1.0"] == moved
    # --check is offline and now sees the rendered output is what needs refreshing.
    assert run_kaosgen("render", root, "--check").exit_code == 1


def test_stale_digests_are_removed(plain: Registry, tmp_path: Path) -> None:
    digest = plain.push_image("kaosgen/agent", "2.0", content="agent 2.0")
    old = "sha256:" + "0" * 64
    root = project(
        tmp_path / "p",
        f"""\
        images:
          agent: {plain.host}/kaosgen/agent:2.0
          mcpServer: {plain.host}/kaosgen/agent:2.0
          ollama: {plain.host}/kaosgen/agent:2.0
          digests:
            {plain.host}/kaosgen/agent:1.0: {old}
        """,
    )
    check = run_kaosgen("images", "pin", root, "--check")
    assert check.exit_code == 1
    assert f"no longer deployed: {plain.host}/kaosgen/agent:1.0" in check.stdout
    result = run_kaosgen("images", "pin", root)
    assert result.exit_code == 0, result.output
    assert digests_of(root) == {f"{plain.host}/kaosgen/agent:2.0": digest}
    assert f"removed {plain.host}/kaosgen/agent:1.0 (no longer deployed)" in result.stdout


def test_unknown_tags_fail_and_write_nothing(plain: Registry, tmp_path: Path) -> None:
    plain.push_image("kaosgen/agent", "1.0")
    root = project(
        tmp_path / "p",
        f"""\
        images:
          agent: {plain.host}/kaosgen/agent:1.0
          mcpServer: {plain.host}/kaosgen/agent:no-such-tag
          ollama: {plain.host}/kaosgen/no-such-repo:1.0
        """,
    )
    before = (root / "kaosgen.yaml").read_text()
    result = run_kaosgen("images", "pin", root)
    assert_no_traceback(result)
    assert result.exit_code == 1, result.output
    assert f"{plain.host} has no tag 'no-such-tag' in repository kaosgen/agent" in result.stderr
    assert "has no tag '1.0' in repository kaosgen/no-such-repo" in result.stderr
    assert "2 image(s) did not resolve; kaosgen.yaml is unchanged" in result.stderr
    assert (root / "kaosgen.yaml").read_text() == before


def test_an_unreachable_registry_is_a_clear_error(tmp_path: Path) -> None:
    host = f"127.0.0.1:{free_port()}"  # nothing listens there
    root = project(tmp_path / "p", all_images(f"{host}/kaosgen/agent:1.0"))
    result = run_kaosgen("images", "pin", root, "--env", "default")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert f"cannot reach registry {host}" in result.stderr
    assert "Connection refused" in result.stderr


def test_no_project_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "resources.yaml").write_text(ECHO)
    result = run_kaosgen("images", "pin", tmp_path, cwd=tmp_path)
    assert result.exit_code == 2
    assert "no kaosgen.yaml found" in result.stderr


def test_the_installed_command_reports_without_a_traceback(plain: Registry, tmp_path: Path) -> None:
    """The real `kaosgen` executable, as CI and pre-commit run it."""
    root = project(tmp_path / "p", all_images(f"{plain.host}/kaosgen/agent:missing"))
    proc = kaosgen_subprocess("images", "pin", str(root), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "has no tag 'missing'" in proc.stderr
    plain.push_image("kaosgen/agent", "present")
    (root / "kaosgen.yaml").write_text(
        (root / "kaosgen.yaml").read_text().replace(":missing", ":present")
    )
    proc = kaosgen_subprocess("images", "pin", str(root), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


# --- TLS and Basic authentication ------------------------------------------------------


def test_tls_registry_with_basic_auth(
    tls_basic: Registry,
    tmp_path: Path,
    isolated_docker_config: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    digest = tls_basic.push_image("team/agent", "1.0")
    ref = f"{tls_basic.host}/team/agent:1.0"
    root = project(tmp_path / "p", all_images(ref))

    untrusted = run_kaosgen("images", "pin", root)
    assert untrusted.exit_code == 1
    assert "the TLS certificate is not trusted" in untrusted.stderr
    assert "REQUESTS_CA_BUNDLE" in untrusted.stderr

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_basic.ca))
    anonymous = run_kaosgen("images", "pin", root)
    assert anonymous.exit_code == 1
    assert f"{tls_basic.host} requires authentication to read team/agent" in anonymous.stderr
    assert f"docker login {tls_basic.host}" in anonymous.stderr

    write_docker_config(
        isolated_docker_config,
        {"auths": {tls_basic.host: {"username": "alice", "password": "nope"}}},
    )
    wrong = run_kaosgen("images", "pin", root)
    assert wrong.exit_code == 1
    assert "rejected the credentials from" in wrong.stderr
    assert "config.json" in wrong.stderr
    assert "nope" not in wrong.output  # a secret is never printed

    import base64

    auth = base64.b64encode(b"alice:s3cret").decode()
    write_docker_config(
        isolated_docker_config, {"auths": {f"https://{tls_basic.host}": {"auth": auth}}}
    )
    ok = run_kaosgen("images", "pin", root)
    assert ok.exit_code == 0, ok.output
    assert digests_of(root) == {ref: digest}


# --- token authentication (the Bearer challenge flow) ----------------------------------


def helper_script(directory: Path, name: str, body: str) -> Path:
    """A `docker-credential-<name>` program, as Docker's credential helpers are."""
    path = directory / f"docker-credential-{name}"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_token_registry(
    token: Registry,
    tmp_path: Path,
    isolated_docker_config: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    digest = token.push_image("team/agent", "1.0")
    ref = f"{token.host}/team/agent:1.0"
    root = project(tmp_path / "p", all_images(ref))
    server = token.token_server
    assert server is not None

    # Anonymous: the realm hands out a token without access; the registry still says 401.
    server.requests.clear()
    anonymous = run_kaosgen("images", "pin", root)
    assert anonymous.exit_code == 1, anonymous.output
    assert "requires authentication to read team/agent" in anonymous.stderr
    (asked,) = server.requests
    assert asked["authorization"] == ""
    assert asked["query"]["service"] == ["kaosgen-test-registry"]
    assert asked["query"]["scope"] == ["repository:team/agent:pull"]

    # Username and password from config.json: Basic credentials to the realm only.
    write_docker_config(
        isolated_docker_config,
        {"auths": {token.host: {"username": "reader", "password": "read-pw"}}},
    )
    server.requests.clear()
    ok = run_kaosgen("images", "pin", root)
    assert ok.exit_code == 0, ok.output
    assert digests_of(root) == {ref: digest}
    assert [r["authorization"][:6] for r in server.requests] == ["Basic "]

    # An identity token (OAuth2 refresh token), as `az acr login` leaves: POST to the realm.
    server.refresh_tokens["refresh-123"] = "reader"
    write_docker_config(
        isolated_docker_config, {"auths": {token.host: {"identitytoken": "refresh-123"}}}
    )
    server.requests.clear()
    refreshed = run_kaosgen("images", "pin", root, "--update")
    assert refreshed.exit_code == 0, refreshed.output
    (post,) = server.requests
    assert post["method"] == "POST"
    assert post["form"]["grant_type"] == ["refresh_token"]

    # A credential helper (credHelpers wins over auths).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper_script(
        bin_dir,
        "kaosgentest",
        'read server\n[ "$1" = get ] || exit 2\n'
        'printf \'{"ServerURL":"%s","Username":"reader","Secret":"read-pw"}\' "$server"\n',
    )
    helper_script(bin_dir, "empty", "echo 'credentials not found in native keychain'; exit 1\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    write_docker_config(
        isolated_docker_config,
        {
            "auths": {token.host: {"username": "reader", "password": "wrong"}},
            "credHelpers": {token.host: "kaosgentest"},
        },
    )
    helped = run_kaosgen("images", "pin", root, "--update")
    assert helped.exit_code == 0, helped.output

    # A helper that has nothing for this registry: anonymous, and the login hint.
    write_docker_config(isolated_docker_config, {"credsStore": "empty"})
    none = run_kaosgen("images", "pin", root, "--update")
    assert none.exit_code == 1
    assert "requires authentication" in none.stderr

    # A helper named but not installed: say so.
    write_docker_config(isolated_docker_config, {"credsStore": "not-installed"})
    missing = run_kaosgen("images", "pin", root, "--update")
    assert missing.exit_code == 1
    assert "docker-credential-not-installed" in missing.stderr
    assert_no_traceback(missing)


def test_a_broken_docker_config_is_a_clear_error(
    plain: Registry, tmp_path: Path, isolated_docker_config: Path
) -> None:
    root = project(tmp_path / "p", all_images(f"{plain.host}/kaosgen/agent:1.0"))
    (isolated_docker_config / "config.json").write_text("{not json")
    result = run_kaosgen("images", "pin", root, "--update")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert "config.json is not valid JSON" in result.stderr
