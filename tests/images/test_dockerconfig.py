"""Registry credentials from the Docker configuration, as `docker login` leaves them."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from kaosgen import dockerconfig
from kaosgen.dockerconfig import Credentials, CredentialsError, DockerConfig


def config(tmp_path: Path, data: object) -> DockerConfig:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return DockerConfig(path)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def helper(directory: Path, name: str, body: str) -> None:
    path = directory / f"docker-credential-{name}"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")
    return directory


def test_config_location_follows_docker_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert dockerconfig.config_path() == tmp_path / "config.json"
    monkeypatch.delenv("DOCKER_CONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert dockerconfig.config_path() == tmp_path / ".docker/config.json"


def test_no_config_means_no_credentials(tmp_path: Path) -> None:
    assert DockerConfig(tmp_path / "absent.json").credentials("ghcr.io") is None


@pytest.mark.parametrize(
    ("key", "registry"),
    [
        ("https://index.docker.io/v1/", "docker.io"),
        ("docker.io", "docker.io"),
        ("registry-1.docker.io", "docker.io"),
        ("ghcr.io", "ghcr.io"),
        ("https://ghcr.io", "ghcr.io"),
        ("http://127.0.0.1:5000/v2/", "127.0.0.1:5000"),
    ],
)
def test_auths_keys_are_read_the_way_docker_reads_them(
    tmp_path: Path, key: str, registry: str
) -> None:
    cfg = config(tmp_path, {"auths": {key: {"auth": b64("user:pa:ss")}}})
    creds = cfg.credentials(registry)
    assert creds is not None
    assert creds.basic == ("user", "pa:ss")  # only the first ':' separates
    assert cfg.credentials("other.example.com") is None


def test_username_password_and_tokens(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        {
            "auths": {
                "a.io": {"username": "u", "password": "p"},
                "b.io": {"identitytoken": "refresh"},
                "c.io": {"registrytoken": "bearer"},
                "d.io": {},
            }
        },
    )
    assert cfg.credentials("a.io").basic == ("u", "p")
    assert cfg.credentials("b.io").identity_token == "refresh"
    assert cfg.credentials("c.io").registry_token == "bearer"
    assert cfg.credentials("d.io") is None  # what `credsStore` leaves behind


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[]", "is not a JSON object"),
        (json.dumps({"auths": {"a.io": {"auth": "%%%"}}}), "is not base64 of user:password"),
        (
            json.dumps({"auths": {"a.io": {"auth": b64("no-colon")}}}),
            "is not base64 of user:password",
        ),
    ],
)
def test_broken_configs_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(CredentialsError, match=message):
        DockerConfig(path).credentials("a.io")


def test_an_oversized_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(" " * (dockerconfig.MAX_CONFIG_BYTES + 1))
    with pytest.raises(CredentialsError, match="larger than"):
        DockerConfig(path)


def test_credential_helpers_win_and_get_the_server_url(tmp_path: Path, bin_dir: Path) -> None:
    log = tmp_path / "asked"
    helper(
        bin_dir,
        "recorder",
        f'read server\necho "$1 $server" >> {log}\n'
        'printf \'{"ServerURL":"%s","Username":"helper-user","Secret":"helper-pw"}\' "$server"\n',
    )
    helper(bin_dir, "store", 'printf \'{"Username":"<token>","Secret":"id-token"}\'\n')
    cfg = config(
        tmp_path,
        {
            "auths": {"ghcr.io": {"auth": b64("file:pw")}},
            "credHelpers": {"ghcr.io": "recorder", "docker.io": "recorder"},
            "credsStore": "store",
        },
    )
    assert cfg.credentials("ghcr.io") == Credentials(
        "helper-user", "helper-pw", source="credential helper docker-credential-recorder"
    )
    assert cfg.credentials("docker.io").basic == ("helper-user", "helper-pw")
    assert log.read_text().splitlines() == ["get ghcr.io", "get https://index.docker.io/v1/"]
    # credsStore for the others; a `<token>` user means an identity token.
    assert cfg.credentials("quay.io").identity_token == "id-token"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("echo 'credentials not found in native keychain'; exit 1\n", None),
        ("echo 'keychain locked' >&2; exit 1\n", "failed for ghcr.io: keychain locked"),
        ("echo 'not json'\n", "printed something other than its JSON answer"),
        ("sleep 5\n", "did not answer within"),
    ],
)
def test_helper_failures(
    tmp_path: Path, bin_dir: Path, monkeypatch: pytest.MonkeyPatch, body: str, message: str | None
) -> None:
    monkeypatch.setattr(dockerconfig, "HELPER_TIMEOUT", 0.5)
    helper(bin_dir, "flaky", body)
    cfg = config(tmp_path, {"credsStore": "flaky"})
    if message is None:
        assert cfg.credentials("ghcr.io") is None
        return
    with pytest.raises(CredentialsError, match=message):
        cfg.credentials("ghcr.io")


def test_a_missing_helper_is_named(tmp_path: Path, bin_dir: Path) -> None:
    cfg = config(tmp_path, {"credHelpers": {"ghcr.io": "absent"}})
    with pytest.raises(
        CredentialsError, match=r"docker-credential-absent for ghcr\.io, but it is not on PATH"
    ):
        cfg.credentials("ghcr.io")
