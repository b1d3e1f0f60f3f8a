"""The registry client against misbehaving registries: raw loopback servers that hang, lie,
send too much, redirect in circles, or challenge oddly. Each gets a clear `RegistryError`,
in bounded time, and credentials never leak to another host."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kaosgen import imageref
from kaosgen.dockerconfig import Credentials
from kaosgen.registry import (
    MANIFEST_MEDIA_TYPES,
    MAX_MANIFEST_BYTES,
    RegistryError,
    Resolver,
    is_loopback,
    parse_challenge,
)

DIGEST = "sha256:" + "7" * 64
OCI = "application/vnd.oci.image.manifest.v1+json"
Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Scripted:
    """A loopback HTTP server answering with `script(method, path, headers)`."""

    script: Callable[[str, str, dict[str, str]], Answer]
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def ref(self, path: str = "team/app:1.0") -> imageref.ImageReference:
        return imageref.parse(f"{self.host}/{path}")


@contextmanager
def scripted(script: Callable[[str, str, dict[str, str]], Answer]) -> Iterator[Scripted]:
    state = Scripted(script)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            headers = {k: v for k, v in self.headers.items()}
            state.seen.append(Seen(self.command, self.path, headers))
            status, out_headers, body = state.script(self.command, self.path, headers)
            self.send_response(status)
            for key, value in out_headers.items():
                self.send_header(key, value)
            if "Content-Length" not in out_headers and "Transfer-Encoding" not in out_headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                if out_headers.get("Transfer-Encoding") == "chunked":
                    for start in range(0, len(body), 65536):
                        chunk = body[start : start + 65536]
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.wfile.write(body)

        do_GET = do_HEAD = do_POST = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def fast(**kwargs: Any) -> Resolver:
    return Resolver(connect_timeout=1.0, read_timeout=1.0, **kwargs)


def manifest_answer(method: str, body: bytes = b"{}", **headers: str) -> Answer:
    return 200, {"Content-Type": OCI, **headers}, body


def fails(resolver: Resolver, ref: imageref.ImageReference, match: str) -> RegistryError:
    with pytest.raises(RegistryError) as caught:
        resolver.resolve(ref)
    assert match in caught.value.message, caught.value.message
    return caught.value


# --- answers that lie or are missing ----------------------------------------------------


def test_head_asks_for_every_manifest_type_and_uses_the_digest_header() -> None:
    with scripted(lambda m, p, h: manifest_answer(m, **{"Docker-Content-Digest": DIGEST})) as reg:
        assert fast().resolve(reg.ref()) == DIGEST
    (head,) = reg.seen
    assert head.method == "HEAD"
    assert head.path == "/v2/team/app/manifests/1.0"
    assert [t.strip() for t in head.headers["Accept"].split(",")] == list(MANIFEST_MEDIA_TYPES)


@pytest.mark.parametrize("header", [None, "sha256:short", "md5:" + "1" * 32])
def test_without_a_usable_digest_header_the_manifest_is_hashed(header: str | None) -> None:
    body = b'{"schemaVersion":2,"mediaType":"' + OCI.encode() + b'"}'
    extra = {"Docker-Content-Digest": header} if header else {}
    with scripted(lambda m, p, h: manifest_answer(m, body, **extra)) as reg:
        assert fast().resolve(reg.ref()) == "sha256:" + hashlib.sha256(body).hexdigest()
    assert [s.method for s in reg.seen] == ["HEAD", "GET"]


def test_an_odd_content_type_on_head_is_settled_by_the_manifest_itself() -> None:
    """Some registries answer HEAD with `application/json`: the body's mediaType decides."""
    body = b'{"schemaVersion":2,"mediaType":"' + OCI.encode() + b'"}'
    answer: Answer = (
        200,
        {"Content-Type": "application/json", "Docker-Content-Digest": DIGEST},
        body,
    )
    with scripted(lambda m, p, h: answer) as reg:
        fails(fast(), reg.ref(), "whose SHA-256 is not the digest it claims")
    honest = {"Content-Type": "application/json"}
    with scripted(lambda m, p, h: (200, honest, body)) as reg:
        assert fast().resolve(reg.ref()) == "sha256:" + hashlib.sha256(body).hexdigest()


def test_a_schema1_manifest_behind_a_generic_content_type_is_refused() -> None:
    body = b'{"schemaVersion":1,"name":"team/app","tag":"1.0"}'
    with scripted(lambda m, p, h: (200, {"Content-Type": "application/json"}, body)) as reg:
        fails(fast(), reg.ref(), "Docker schema 1")


@pytest.mark.parametrize("chunked", [False, True])
def test_an_oversized_manifest_is_refused(chunked: bool) -> None:
    body = b" " * (MAX_MANIFEST_BYTES + 1)
    headers = {"Transfer-Encoding": "chunked"} if chunked else {}
    with scripted(lambda m, p, h: manifest_answer(m, body, **headers)) as reg:
        fails(fast(), reg.ref(), f"the {MAX_MANIFEST_BYTES}")


def test_a_manifest_nested_past_the_recursion_limit_is_not_an_image() -> None:
    body = b"[" * 200_000
    with scripted(lambda m, p, h: (200, {"Content-Type": "application/json"}, body)) as reg:
        fails(fast(), reg.ref(), "is a application/json, not a container image")


@pytest.mark.parametrize(
    ("media_type", "message"),
    [
        ("application/vnd.docker.distribution.manifest.v1+prettyjws", "Docker schema 1"),
        ("text/html", "is a text/html, not a container image"),
    ],
)
def test_what_is_not_an_image_manifest_is_refused(media_type: str, message: str) -> None:
    answer: Answer = (200, {"Content-Type": media_type, "Docker-Content-Digest": DIGEST}, b"")
    with scripted(lambda m, p, h: answer) as reg:
        fails(fast(), reg.ref(), message)


@pytest.mark.parametrize(
    ("status", "headers", "message", "tries"),
    [
        (429, {"Retry-After": "60"}, "rate-limits this client (retry after 60s)", 1),
        (403, {}, "denied access to team/app", 1),
        (503, {}, "answered HTTP 503", 3),  # retried twice
        (500, {}, "answered HTTP 500", 1),
    ],
)
def test_error_statuses(status: int, headers: dict[str, str], message: str, tries: int) -> None:
    with scripted(lambda m, p, h: (status, headers, b"")) as reg:
        fails(fast(), reg.ref(), message)
    assert len(reg.seen) == tries


def test_not_found_distinguishes_a_missing_repository() -> None:
    body = b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known"}]}'
    with scripted(lambda m, p, h: (404, {"Content-Type": "application/json"}, body)) as reg:
        fails(fast(), reg.ref(), "repository team/app does not exist")
    body = b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'
    with scripted(lambda m, p, h: (404, {}, body)) as reg:
        fails(fast(), reg.ref(), "has no tag '1.0' in repository team/app")


def test_an_untagged_reference_means_latest() -> None:
    with scripted(lambda m, p, h: manifest_answer(m, **{"Docker-Content-Digest": DIGEST})) as reg:
        fast().resolve(reg.ref("team/app"))
    assert reg.seen[0].path == "/v2/team/app/manifests/latest"


# --- peers that hang or break ---------------------------------------------------------------


def test_a_registry_that_never_answers_times_out() -> None:
    """A listening socket that never accepts: the TCP handshake completes, nothing follows."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        ref = imageref.parse(f"127.0.0.1:{listener.getsockname()[1]}/team/app:1")
        start = time.monotonic()
        with pytest.raises(RegistryError) as caught:
            Resolver(connect_timeout=0.5, read_timeout=0.5).resolve(ref)
        elapsed = time.monotonic() - start
    assert "did not answer within 0.5s" in caught.value.message
    assert elapsed < 5


def test_a_registry_that_hangs_up_mid_answer() -> None:
    """Headers promise a body, then the connection closes."""
    answer: Answer = (200, {"Content-Type": OCI, "Content-Length": "1000"}, b"{")
    with scripted(lambda m, p, h: answer) as reg:
        fails(fast(), reg.ref(), "")


def test_a_registry_that_trickles_its_answer_is_cut_off() -> None:
    """A byte every 0.3 s passes the 1 s read timeout every time; the body as a whole gets
    twice the read timeout, not the hours a trickled 4 MiB manifest would take."""
    stop = threading.Event()

    class Trickle(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_HEAD(self) -> None:  # no digest header: the client GETs and hashes the body
            self.send_response(200)
            self.send_header("Content-Type", OCI)
            self.send_header("Content-Length", "100000")
            self.end_headers()

        def do_GET(self) -> None:
            self.do_HEAD()
            for _ in range(100000):
                if stop.is_set():
                    return
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.3)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ref = imageref.parse(f"127.0.0.1:{server.server_address[1]}/team/app:1")
        start = time.monotonic()
        error = fails(fast(), ref, "sent it too slowly (not done within 2s)")
        elapsed = time.monotonic() - start
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
    assert "try again later" in error.hint
    assert elapsed < 6


def test_a_redirect_loop_stops() -> None:
    def loop(method: str, path: str, headers: dict[str, str]) -> Answer:
        return 307, {"Location": path}, b""

    with scripted(loop) as reg:
        fails(fast(), reg.ref(), "too many redirects")
    assert len(reg.seen) <= 7


# --- authentication ----------------------------------------------------------------------


def test_challenge_parsing_handles_quoted_commas() -> None:
    challenge = parse_challenge(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:team/app:pull,push"'
    )
    assert challenge is not None
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://auth.example.com/token",
        "service": "registry.example.com",
        "scope": "repository:team/app:pull,push",
    }
    assert parse_challenge("") is None


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("127.8.9.10", True),
        ("localhost:5000", True),
        ("[::1]:5000", True),
        ("10.0.0.1:5000", False),
        ("ghcr.io", False),
        ("localhost.example.com", False),
    ],
)
def test_only_loopback_registries_may_be_plain_http(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def bearer_registry(realm: str, token: str = "good") -> Callable[..., Answer]:
    def script(method: str, path: str, headers: dict[str, str]) -> Answer:
        if headers.get("Authorization") == f"Bearer {token}":
            return manifest_answer(method, **{"Docker-Content-Digest": DIGEST})
        challenge = f'Bearer realm="{realm}",service="reg",scope="repository:team/app:pull"'
        return 401, {"WWW-Authenticate": challenge}, b""

    return script


def test_credentials_never_go_to_a_plain_http_token_service_off_this_machine() -> None:
    creds = Credentials("user", "secret", source="test")
    with scripted(bearer_registry("http://auth.example.com/token")) as reg:
        fails(fast(credentials=lambda r: creds), reg.ref(), "is plain HTTP")


@pytest.mark.parametrize(
    ("token_answer", "message"),
    [
        ((200, {"Content-Type": "application/json"}, b'{"nothing": 1}'), "without a token"),
        ((200, {}, b"not json"), "without a token"),
        ((200, {}, b"[" * 200_000), "without a token"),  # past the recursion limit
        ((500, {}, b""), "answered HTTP 500"),
        ((200, {}, b'{"token": "' + b"x" * (2 << 20) + b'"}'), "bytes kaosgen reads"),
    ],
)
def test_a_token_service_that_misbehaves(token_answer: Answer, message: str) -> None:
    with (
        scripted(lambda m, p, h: token_answer) as auth,
        scripted(bearer_registry(f"http://{auth.host}/token")) as reg,
    ):
        fails(fast(), reg.ref(), message)


def test_the_bearer_flow_caches_its_token() -> None:
    token_body = b'{"token": "good"}'
    with (
        scripted(lambda m, p, h: (200, {}, token_body)) as auth,
        scripted(bearer_registry(f"http://{auth.host}/token")) as reg,
    ):
        resolver = fast()
        assert resolver.resolve(reg.ref("team/app:1")) == DIGEST
        assert resolver.resolve(reg.ref("team/app:2")) == DIGEST
    assert len(auth.seen) == 1
    assert auth.seen[0].path == "/token?scope=repository%3Ateam%2Fapp%3Apull&service=reg"
    # 401, retry, then the second tag goes straight through with the cached token.
    assert [s.headers.get("Authorization") for s in reg.seen] == [
        None,
        "Bearer good",
        "Bearer good",
    ]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("", "no WWW-Authenticate challenge"),
        ('Negotiate realm="x"', "(negotiate)"),
        ('Bearer service="x"', "no usable realm"),
    ],
)
def test_challenges_it_cannot_answer(header: str, message: str) -> None:
    headers = {"WWW-Authenticate": header} if header else {}
    with scripted(lambda m, p, h: (401, headers, b"")) as reg:
        fails(fast(), reg.ref(), message)


def test_basic_challenge_without_credentials_asks_for_docker_login() -> None:
    with scripted(lambda m, p, h: (401, {"WWW-Authenticate": 'Basic realm="r"'}, b"")) as reg:
        error = fails(fast(), reg.ref(), "requires authentication")
    assert f"docker login {reg.host}" in error.hint


def test_authorization_is_not_forwarded_to_another_host_on_redirect() -> None:
    """A registry may redirect a manifest request elsewhere (a CDN): its credentials stay."""
    with scripted(lambda m, p, h: manifest_answer(m, **{"Docker-Content-Digest": DIGEST})) as cdn:

        def script(method: str, path: str, headers: dict[str, str]) -> Answer:
            if headers.get("Authorization", "").startswith("Basic "):
                return 307, {"Location": f"http://{cdn.host}{path}"}, b""
            return 401, {"WWW-Authenticate": 'Basic realm="r"'}, b""

        with scripted(script) as reg:
            creds = Credentials("user", "secret", source="test")
            assert fast(credentials=lambda r: creds).resolve(reg.ref()) == DIGEST
    assert cdn.seen
    assert all("Authorization" not in s.headers for s in cdn.seen)
