"""A real OCI registry on loopback, and small images pushed to it.

The registry is Debian's `docker-registry` package: the CNCF distribution server
(registry:2), which serves the OCI distribution API with plain, TLS, htpasswd and token
authentication. Images are built here (a config blob, one layer, a manifest; or an index
over two platform manifests) and pushed through the registry's push API with `oras`.

Skipped when `docker-registry` is not installed, unless `KAOSGEN_REQUIRE_REGISTRY=1`
(CI), where a missing binary is a failure: the pinning tests must not silently stop.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from .process import free_port, running

REQUIRE_ENV = "KAOSGEN_REQUIRE_REGISTRY"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def registry_binary() -> str:
    path = shutil.which("docker-registry") or (
        "/usr/bin/docker-registry" if Path("/usr/bin/docker-registry").exists() else None
    )
    if path:
        return path
    reason = "docker-registry is not installed (apt-get install docker-registry)"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    pytest.skip(reason)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- TLS and token-signing material ----------------------------------------------------


@dataclass
class KeyPair:
    key_pem: Path
    cert_pem: Path
    key: Any
    cert: Any


def make_cert(directory: Path, name: str, *, ip: str = "127.0.0.1") -> KeyPair:
    """A self-signed certificate for `ip` (also its own CA), and its RSA key."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(ip)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    key_pem, cert_pem = directory / f"{name}.key", directory / f"{name}.crt"
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return KeyPair(key_pem, cert_pem, key, cert)


# --- a token server (the distribution spec's token flow) -------------------------------


SERVICE = "kaosgen-test-registry"
ISSUER = "kaosgen-test-issuer"


class TokenServer:
    """Issues registry tokens (RS256 JWTs with the signing certificate in `x5c`).

    `users` maps user -> (password, actions granted on every repository). An anonymous
    request gets a token with no access; a refresh token in `refresh_tokens` is as good as
    its user's password (the OAuth2 `grant_type=refresh_token` POST). Every request is
    recorded in `requests` for the tests to inspect.
    """

    def __init__(self, signer: KeyPair, users: dict[str, tuple[str, list[str]]]) -> None:
        self.signer = signer
        self.users = users
        self.refresh_tokens: dict[str, str] = {}
        self.requests: list[dict[str, Any]] = []
        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def start(self) -> TokenServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def token(self, user: str | None, scope: str) -> str:
        import jwt
        from cryptography.hazmat.primitives import serialization

        access = []
        if user is not None and scope.startswith("repository:"):
            _, name, _ = scope.split(":", 2)
            access.append({"type": "repository", "name": name, "actions": self.users[user][1]})
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": user or "",
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": os.urandom(8).hex(),
            "access": access,
        }
        der = self.signer.cert.public_bytes(serialization.Encoding.DER)
        return jwt.encode(
            claims,
            self.signer.key,
            algorithm="RS256",
            headers={"x5c": [base64.b64encode(der).decode()]},
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, user: str | None, scope: str) -> None:
                body = json.dumps({"token": server.token(user, scope)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _deny(self) -> None:
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                query = parse_qs(urlparse(self.path).query)
                scope = (query.get("scope") or [""])[0]
                header = self.headers.get("Authorization", "")
                server.requests.append({"method": "GET", "query": query, "authorization": header})
                if not header:
                    return self._answer(None, scope)
                if not header.startswith("Basic "):
                    return self._deny()
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                if user in server.users and server.users[user][0] == password:
                    return self._answer(user, scope)
                return self._deny()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                server.requests.append({"method": "POST", "form": form})
                refresh = (form.get("refresh_token") or [""])[0]
                user = server.refresh_tokens.get(refresh)
                if (form.get("grant_type") or [""])[0] != "refresh_token" or user is None:
                    return self._deny()
                body = json.dumps(
                    {"access_token": server.token(user, (form.get("scope") or [""])[0])}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


# --- the registry ----------------------------------------------------------------------


@dataclass
class Registry:
    host: str  # 127.0.0.1:<port>
    scheme: str  # http | https
    ca: Path | None = None  # the certificate to trust (TLS)
    push_auth: tuple[str, str] | None = None
    token_server: TokenServer | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def ref(self, repository: str, tag: str) -> str:
        return f"{self.host}/{repository}:{tag}"

    # --- pushing ------------------------------------------------------------------

    def _client(self) -> Any:
        import oras.provider

        client = oras.provider.Registry(
            hostname=self.host,
            insecure=self.scheme == "http",
            tls_verify=str(self.ca) if self.ca else True,
            auth_backend="token" if self.token_server else "basic",
        )
        if self.push_auth:
            client.auth.set_basic_auth(*self.push_auth)
        return client

    def _put_blob(self, client: Any, repository: str, data: bytes, media_type: str) -> dict:
        descriptor = {"mediaType": media_type, "digest": sha256(data), "size": len(data)}
        tmp = (
            Path(os.environ.get("TMPDIR", "/tmp"))
            / f"kaosgen-blob-{os.getpid()}-{os.urandom(4).hex()}"
        )
        tmp.write_bytes(data)
        try:
            response = client.upload_blob(str(tmp), f"{self.host}/{repository}", descriptor)
        finally:
            tmp.unlink()
        assert response.status_code in (200, 201, 202), response.text
        return descriptor

    def _put_manifest(
        self, client: Any, repository: str, tag: str, body: bytes, media_type: str
    ) -> str:
        response = client.do_request(
            f"{self.url}/v2/{repository}/manifests/{tag}",
            "PUT",
            data=body,
            headers={"Content-Type": media_type},
        )
        assert response.status_code == 201, response.text
        digest = sha256(body)
        assert response.headers.get("Docker-Content-Digest") == digest
        return digest

    def push_image(
        self, repository: str, tag: str, *, content: str = "hello", arch: str = "amd64"
    ) -> str:
        """Push a one-layer image; return its manifest digest (sha256 of the bytes sent)."""
        client = self._client()
        layer_tar = io.BytesIO()
        with tarfile.open(fileobj=layer_tar, mode="w") as tar:
            data = content.encode()
            info = tarfile.TarInfo("hello.txt")
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
        raw = layer_tar.getvalue()
        layer = self._put_blob(client, repository, gzip.compress(raw, mtime=0), OCI_LAYER)
        config_body = json.dumps(
            {
                "architecture": arch,
                "os": "linux",
                "config": {"Cmd": ["/hello.txt"]},
                "rootfs": {"type": "layers", "diff_ids": [sha256(raw)]},
            },
            sort_keys=True,
        ).encode()
        config = self._put_blob(client, repository, config_body, OCI_CONFIG)
        manifest = json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]},
            sort_keys=True,
        ).encode()
        return self._put_manifest(client, repository, tag, manifest, OCI_MANIFEST)

    def push_index(
        self, repository: str, tag: str, *, content: str = "multi"
    ) -> tuple[str, list[str]]:
        """Push a two-platform image (an OCI index); return the index and platform digests."""
        platforms = []
        for arch in ("amd64", "arm64"):
            digest = self.push_image(
                repository, f"{tag}-{arch}", content=f"{content}-{arch}", arch=arch
            )
            platforms.append((arch, digest))
        client = self._client()
        manifests = []
        for arch, digest in platforms:
            got = client.do_request(
                f"{self.url}/v2/{repository}/manifests/{digest}",
                "GET",
                headers={"Accept": OCI_MANIFEST},
            )
            manifests.append(
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": digest,
                    "size": len(got.content),
                    "platform": {"architecture": arch, "os": "linux"},
                }
            )
        index = json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}, sort_keys=True
        ).encode()
        return self._put_manifest(client, repository, tag, index, OCI_INDEX), [
            d for _, d in platforms
        ]


def _htpasswd(users: dict[str, str]) -> str:
    import bcrypt

    return "".join(
        f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
        for user, password in users.items()
    )


def _ready(url: str, ca: Path | None) -> bool:
    try:
        status = requests.get(f"{url}/v2/", timeout=1, verify=str(ca) if ca else True).status_code
    except requests.RequestException:
        return False
    return status in (200, 401)


@contextmanager
def start_registry(
    directory: Path,
    *,
    tls: bool = False,
    htpasswd: dict[str, str] | None = None,
    token_users: dict[str, tuple[str, list[str]]] | None = None,
) -> Iterator[Registry]:
    """A throwaway docker-registry on a free loopback port, storing under `directory`."""
    binary = registry_binary()
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(directory / "data")}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": "kaosgen-test"},
    }
    ca = None
    if tls:
        pair = make_cert(directory / "tls", "registry")
        config["http"]["tls"] = {"certificate": str(pair.cert_pem), "key": str(pair.key_pem)}
        ca = pair.cert_pem
    push_auth = None
    token_server = None
    if htpasswd:
        path = directory / "htpasswd"
        path.write_text(_htpasswd(htpasswd))
        config["auth"] = {"htpasswd": {"realm": "kaosgen-test", "path": str(path)}}
        push_auth = next(iter(htpasswd.items()))
    if token_users:
        signer = make_cert(directory / "token", "token-signer")
        token_server = TokenServer(signer, token_users).start()
        config["auth"] = {
            "token": {
                "realm": token_server.realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(signer.cert_pem),
            }
        }
        pusher = next(u for u, (_, actions) in token_users.items() if "push" in actions)
        push_auth = (pusher, token_users[pusher][0])
    config_path = directory / "config.yml"
    config_path.write_text(json.dumps(config))  # JSON is YAML
    scheme = "https" if tls else "http"
    try:
        with running(
            [binary, "serve", str(config_path)],
            port=port,
            log_path=directory / "registry.log",
            ready=lambda _: _ready(f"{scheme}://127.0.0.1:{port}", ca),
            timeout=20,
            what="docker-registry",
        ):
            yield Registry(f"127.0.0.1:{port}", scheme, ca, push_auth, token_server)
    finally:
        if token_server is not None:
            token_server.stop()
