"""Registry credentials the way `docker login` leaves them.

`$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`): a registry's
`credHelpers` entry wins, then `credsStore`, then the `auths` entry (`auth` =
base64 `user:password`, or `username`/`password`, `identitytoken`, `registrytoken`).
Helpers are the `docker-credential-<name>` programs Docker runs (`get`, the server URL on
stdin, JSON on stdout).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kaosgen.imageref import DOCKER_HUB

#: How Docker names Docker Hub in config.json and to credential helpers.
DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_HUB_NAMES = {"docker.io", "index.docker.io", "registry-1.docker.io"}
MAX_CONFIG_BYTES = 1 << 20
HELPER_TIMEOUT = 15.0


class CredentialsError(Exception):
    """The Docker configuration exists but cannot be used (say what to fix)."""


@dataclass(frozen=True)
class Credentials:
    username: str | None = None
    password: str | None = None
    identity_token: str | None = None  # an OAuth2 refresh token (e.g. `az acr login`)
    registry_token: str | None = None  # a bearer token to send as it is
    source: str = ""  # where they came from, for messages

    @property
    def basic(self) -> tuple[str, str] | None:
        if self.username is not None and self.password is not None:
            return self.username, self.password
        return None


def config_path() -> Path:
    directory = os.environ.get("DOCKER_CONFIG")
    return Path(directory) / "config.json" if directory else Path.home() / ".docker/config.json"


def _host(key: str) -> str:
    """A config.json key as Docker reads it: `https://host:port/v1/` -> `host:port`."""
    key = key.strip()
    for scheme in ("https://", "http://"):
        if key.startswith(scheme):
            key = key[len(scheme) :]
    host = key.split("/", 1)[0]
    return DOCKER_HUB if host in _HUB_NAMES else host


def _server_url(registry: str) -> str:
    return DOCKER_HUB_KEY if registry == DOCKER_HUB else registry


class DockerConfig:
    """Credentials per registry (`docker.io`, `ghcr.io`, `127.0.0.1:5000`)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_path()
        self._data = self._load()

    def _load(self) -> dict[str, Any]:
        """Read as inputs are read: a FIFO (which would block forever) or a device is
        refused unread; JSON nested past Python's recursion limit is invalid, not a crash."""
        from kaosgen.source import InputError, read_input_bytes

        if not os.path.lexists(self.path):
            return {}
        try:
            raw = read_input_bytes(self.path, limit=MAX_CONFIG_BYTES)
        except InputError as exc:
            if exc.rule == "file-size":
                raise CredentialsError(
                    f"{self.path} is larger than {MAX_CONFIG_BYTES} bytes"
                ) from None
            raise CredentialsError(f"{self.path}: {exc.message}") from None
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CredentialsError(f"{self.path} is not valid JSON: {exc}") from None
        except RecursionError:
            raise CredentialsError(f"{self.path} is not valid JSON: nested too deeply") from None
        if not isinstance(data, dict):
            raise CredentialsError(f"{self.path} is not a JSON object")
        return data

    def _section(self, name: str) -> dict[str, Any]:
        value = self._data.get(name)
        return value if isinstance(value, dict) else {}

    def credentials(self, registry: str) -> Credentials | None:
        helpers = {_host(k): v for k, v in self._section("credHelpers").items()}
        helper = helpers.get(registry) or self._data.get("credsStore")
        if isinstance(helper, str) and helper:
            return _from_helper(helper, registry)
        for key, entry in sorted(self._section("auths").items()):
            if _host(key) == registry and isinstance(entry, dict):
                return self._from_auths(key, entry)
        return None

    def _from_auths(self, key: str, entry: dict[str, Any]) -> Credentials | None:
        source = f"{self.path} (auths[{key!r}])"
        username, password = entry.get("username"), entry.get("password")
        auth = entry.get("auth")
        if isinstance(auth, str) and auth:
            try:
                decoded = base64.b64decode(auth, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise CredentialsError(f"{source}: `auth` is not base64 of user:password") from None
            username, sep, password = decoded.partition(":")
            if not sep:
                raise CredentialsError(f"{source}: `auth` is not base64 of user:password")
        identity = entry.get("identitytoken") or None
        token = entry.get("registrytoken") or None
        if not (username and password is not None) and not identity and not token:
            return None
        return Credentials(
            username=username if isinstance(username, str) else None,
            password=password if isinstance(password, str) else None,
            identity_token=identity if isinstance(identity, str) else None,
            registry_token=token if isinstance(token, str) else None,
            source=source,
        )


def _from_helper(helper: str, registry: str) -> Credentials | None:
    program = f"docker-credential-{helper}"
    source = f"credential helper {program}"
    try:
        result = subprocess.run(
            [program, "get"],
            input=_server_url(registry),
            capture_output=True,
            text=True,
            timeout=HELPER_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise CredentialsError(
            f"Docker config names {source} for {registry}, but it is not on PATH"
        ) from None
    except subprocess.TimeoutExpired:
        raise CredentialsError(f"{source} did not answer within {HELPER_TIMEOUT:.0f}s") from None
    if result.returncode != 0:
        message = (result.stdout or result.stderr).strip()
        if "credentials not found" in message.lower():
            return None
        raise CredentialsError(f"{source} failed for {registry}: {message[:200]}")
    try:
        data = json.loads(result.stdout)
        username, secret = data["Username"], data["Secret"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise CredentialsError(f"{source} printed something other than its JSON answer") from None
    if username == "<token>":
        return Credentials(identity_token=secret, source=source)
    return Credentials(username=username, password=secret, source=source)
