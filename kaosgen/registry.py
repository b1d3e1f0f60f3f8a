"""Resolve image tags to manifest digests through the OCI distribution API.

`HEAD /v2/<repository>/manifests/<tag>` with the manifest media types Docker and
containerd accept, and the digest from `Docker-Content-Digest` (or, where a registry
leaves it out, the SHA-256 of the manifest from a GET). For a multi-platform image that is
the digest of its index (manifest list), so every platform keeps resolving.

Authentication follows the registry's `WWW-Authenticate` challenge: `Bearer` (the token
flow of the distribution spec: anonymous, with basic credentials, or an OAuth2 refresh
token) or `Basic`, with credentials from the Docker configuration (see `dockerconfig`).

Everything is bounded: connect and read timeouts, a body read within twice the read
timeout in all (however slowly a registry trickles it), few retries, at most
`MAX_MANIFEST_BYTES` of a manifest and `MAX_TOKEN_BYTES` of a token answer. Failures are
`RegistryError`s that say what happened and what to do.

HTTPS always, except for loopback registries (`localhost`, `127.0.0.0/8`, `::1`), which
get plain HTTP when they do not speak TLS, as Docker treats them. Proxies come from
`HTTPS_PROXY`/`NO_PROXY` and a private CA from `REQUESTS_CA_BUNDLE` (requests' own rules).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from kaosgen.dockerconfig import Credentials, CredentialsError
from kaosgen.imageref import ImageReference, is_digest

MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
#: The OCI distribution spec's recommended limit for a manifest.
MAX_MANIFEST_BYTES = 4 << 20
MAX_TOKEN_BYTES = 1 << 20
MAX_ERROR_BYTES = 64 << 10
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
USER_AGENT = "kaosgen-images-pin"
LOGIN_HINT = (
    "log in with `docker login {registry}` (kaosgen reads $DOCKER_CONFIG/config.json, "
    "default ~/.docker/config.json, and its credential helpers)"
)


class RegistryError(Exception):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class _NoTLS(RegistryError):
    """The server does not speak TLS (a loopback registry may then be plain HTTP)."""


class _Timeout(RegistryError):
    """No answer in time (on loopback, possibly a plain-HTTP server ignoring a TLS hello)."""


class _Authorization(requests.auth.AuthBase):
    """Sends exactly this Authorization header, or none: never ~/.netrc's (requests would
    otherwise add it to a request without `auth`)."""

    def __init__(self, value: str | None) -> None:
        self.value = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.value:
            request.headers["Authorization"] = self.value
        return request


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


@dataclass
class _Challenge:
    scheme: str
    params: dict[str, str]


def parse_challenge(header: str) -> _Challenge | None:
    """`Bearer realm="...",service="...",scope="..."` -> scheme and parameters."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = urllib.request.parse_keqv_list(
        [item for item in urllib.request.parse_http_list(rest) if "=" in item]
    )
    return _Challenge(scheme.lower(), {k.lower(): v for k, v in params.items()})


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _causes(exc: BaseException) -> Iterator[Any]:
    """An exception and everything it wraps (causes, contexts, arguments, `reason`s)."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        if isinstance(item, BaseException):
            stack.extend([item.__cause__, item.__context__, getattr(item, "reason", None)])
            stack.extend(a for a in item.args if isinstance(a, BaseException))


def _cert_verification_failed(exc: BaseException) -> bool:
    return any(
        "CERTIFICATE_VERIFY_FAILED" in str(item) or "certificate verify failed" in str(item)
        for item in _causes(exc)
    )


def _timed_out(exc: BaseException) -> bool:
    return any(isinstance(item, TimeoutError | ReadTimeoutError) for item in _causes(exc))


def _read_bounded(response: requests.Response, limit: int, what: str, seconds: float) -> bytes:
    """At most `limit` bytes of the body, within `seconds` in all: the read timeout bounds
    each wait, and a registry trickling a byte at a time would pass it for hours."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        response.close()
        raise RegistryError(
            f"{what} is {declared} bytes, more than the {limit} bytes kaosgen reads"
        )
    deadline = time.monotonic() + seconds
    pieces: list[bytes] = []
    size = 0
    try:
        while size <= limit:
            if time.monotonic() > deadline:
                raise RegistryError(
                    f"{what}: the registry sent it too slowly (not done within {seconds:g}s)",
                    "the registry or the network is overloaded; try again later",
                )
            piece = response.raw.read1(min(65536, limit + 1 - size), decode_content=True)
            if not piece:
                break
            pieces.append(piece)
            size += len(piece)
    except RegistryError:
        raise
    except Exception as exc:  # urllib3 ProtocolError, ReadTimeoutError, ...
        raise RegistryError(f"{what}: the connection broke while reading ({exc})") from None
    finally:
        response.close()
    if size > limit:
        raise RegistryError(f"{what} is more than the {limit} bytes kaosgen reads")
    return b"".join(pieces)


def _json(data: bytes) -> Any:
    """The JSON document, or None for what is not JSON (or, from a hostile registry,
    nested past Python's recursion limit)."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None


def _error_codes(data: bytes) -> list[str]:
    body = _json(data)
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    return [str(e.get("code")) for e in errors if isinstance(e, dict)]


@dataclass
class Resolver:
    """Resolves references to digests; one per command run (it caches tokens)."""

    credentials: Callable[[str], Credentials | None] = lambda registry: None
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    retries: int = 2
    _session: requests.Session = field(init=False, repr=False)
    _schemes: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _auth: dict[tuple[str, str], str] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        session = requests.Session()
        retry = Retry(
            total=self.retries,
            connect=1,
            read=0,
            other=0,  # a TLS or protocol error does not go away by asking again
            status=self.retries,
            status_forcelist=(502, 503, 504),
            allowed_methods=frozenset({"HEAD", "GET"}),
            backoff_factor=0.2,
            raise_on_status=False,
            # A registry's Retry-After could make us sleep for hours: report it instead.
            respect_retry_after_header=False,
        )
        adapter = HTTPAdapter(max_retries=retry)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.max_redirects = 5
        session.headers["User-Agent"] = USER_AGENT
        self._session = session

    def close(self) -> None:
        self._session.close()

    @property
    def _body_seconds(self) -> float:
        """The time a whole answer body may take: twice the wait for any one read."""
        return 2 * self.read_timeout

    # --- the API ----------------------------------------------------------------------

    def resolve(self, ref: ImageReference) -> str:
        """The manifest digest `ref`'s tag points to now."""
        if ref.digest:
            return ref.digest
        tag = ref.tag or "latest"
        path = f"/v2/{ref.repository}/manifests/{tag}"
        headers = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
        response = self._send("HEAD", ref, path, headers)
        if response.status_code == 404:
            response = self._send("GET", ref, path, headers)
            self._not_found(
                ref, tag, _read_bounded(response, MAX_ERROR_BYTES, "error", self._body_seconds)
            )
        self._check_status(ref, response)
        media_type = _media_type(response)
        digest = response.headers.get("Docker-Content-Digest", "").strip()
        response.close()
        self._check_schema1(ref, media_type)
        if media_type in MANIFEST_MEDIA_TYPES and is_digest(digest):
            return digest
        # No usable digest header (or an odd content type on HEAD): hash the manifest itself.
        return self._hash_manifest(ref, path, headers)

    def _hash_manifest(self, ref: ImageReference, path: str, headers: dict[str, str]) -> str:
        response = self._send("GET", ref, path, headers)
        self._check_status(ref, response)
        media_type = _media_type(response)
        claimed = response.headers.get("Docker-Content-Digest", "").strip()
        body = _read_bounded(
            response, MAX_MANIFEST_BYTES, f"the manifest of {ref}", self._body_seconds
        )
        document = _json(body)
        if media_type not in MANIFEST_MEDIA_TYPES and isinstance(document, dict):
            media_type = str(document.get("mediaType") or media_type)
            if document.get("schemaVersion") == 1:
                media_type = _SCHEMA1[0]
        self._check_schema1(ref, media_type)
        if media_type not in MANIFEST_MEDIA_TYPES:
            raise RegistryError(f"{ref} is a {media_type or 'document'}, not a container image")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if claimed.startswith("sha256:") and is_digest(claimed) and claimed != digest:
            raise RegistryError(
                f"{ref.registry} sent a manifest for {ref} whose SHA-256 is not the digest it "
                f"claims ({claimed})",
                "the registry or something between it and you is misbehaving; try again later",
            )
        return digest

    # --- HTTP -------------------------------------------------------------------------

    def _base(self, host: str) -> str:
        scheme = self._schemes.get(host)
        if scheme is None:
            scheme = "https"
        return f"{scheme}://{host}"

    def _raw(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        host = url.split("/", 3)[2]
        try:
            return self._session.request(
                method,
                url,
                timeout=(self.connect_timeout, self.read_timeout),
                stream=True,
                allow_redirects=True,
                **kwargs,
            )
        except requests.exceptions.SSLError as exc:
            if _cert_verification_failed(exc):
                raise RegistryError(
                    f"{host}: the TLS certificate is not trusted ({_short(exc)})",
                    "for a private CA, point REQUESTS_CA_BUNDLE at its certificate bundle",
                ) from None
            raise _NoTLS(f"{host}: TLS failed ({_short(exc)})") from None
        except requests.exceptions.ConnectTimeout:
            raise RegistryError(
                f"{host} did not accept a connection within {self.connect_timeout:g}s",
                "check the registry address, your network and HTTPS_PROXY",
            ) from None
        except requests.exceptions.ReadTimeout:
            raise _Timeout(f"{host} did not answer within {self.read_timeout:g}s") from None
        except requests.exceptions.TooManyRedirects:
            raise RegistryError(f"{host}: too many redirects") from None
        except requests.exceptions.ConnectionError as exc:
            if _timed_out(exc):  # e.g. a TLS handshake nobody answers
                raise _Timeout(f"{host} did not answer within {self.read_timeout:g}s") from None
            raise RegistryError(
                f"cannot reach registry {host} ({_short(exc)})",
                "check the registry address, your network and HTTPS_PROXY",
            ) from None
        except requests.exceptions.RequestException as exc:
            raise RegistryError(f"{host}: {_short(exc)}") from None

    def _request(self, method: str, host: str, path: str, **kwargs: Any) -> requests.Response:
        """One request to a registry, choosing HTTPS or (loopback only) plain HTTP."""
        if host in self._schemes or not is_loopback(host):
            return self._raw(method, self._base(host) + path, **kwargs)
        try:
            response = self._raw(method, f"https://{host}{path}", **kwargs)
            self._schemes[host] = "https"
            return response
        except (_NoTLS, _Timeout):
            pass  # not TLS, or a plain-HTTP server waiting for a request line
        self._schemes[host] = "http"
        return self._raw(method, f"http://{host}{path}", **kwargs)

    def _send(
        self, method: str, ref: ImageReference, path: str, headers: dict[str, str]
    ) -> requests.Response:
        """A request with the repository's authorization, answering one challenge."""
        host = ref.registry_host
        key = (host, ref.repository)
        response = self._request(
            method, host, path, headers=headers, auth=_Authorization(self._auth.get(key))
        )
        if response.status_code != 401:
            return response
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        response.close()
        creds = self._credentials(ref)
        authorization = self._authorize(ref, challenge, creds)
        self._auth[key] = authorization
        response = self._request(
            method, host, path, headers=headers, auth=_Authorization(authorization)
        )
        if response.status_code == 401:
            response.close()
            self._unauthorized(ref, creds)
        return response

    def _credentials(self, ref: ImageReference) -> Credentials | None:
        try:
            return self.credentials(ref.registry)
        except CredentialsError as exc:
            raise RegistryError(str(exc)) from None

    # --- authentication ---------------------------------------------------------------

    def _authorize(
        self, ref: ImageReference, challenge: _Challenge | None, creds: Credentials | None
    ) -> str:
        if challenge is None or challenge.scheme not in ("bearer", "basic"):
            raise RegistryError(
                f"{ref.registry} asks for authentication kaosgen does not speak "
                f"({challenge.scheme if challenge else 'no WWW-Authenticate challenge'})"
            )
        if challenge.scheme == "basic":
            if creds is None or creds.basic is None:
                self._unauthorized(ref, None)
            return _basic(*creds.basic)  # type: ignore[misc]
        if creds is not None and creds.registry_token:
            return f"Bearer {creds.registry_token}"
        return f"Bearer {self._token(ref, challenge.params, creds)}"

    def _token(self, ref: ImageReference, params: dict[str, str], creds: Credentials | None) -> str:
        realm = params.get("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise RegistryError(
                f"{ref.registry}: the Bearer challenge has no usable realm ({realm!r})"
            )
        realm_host = realm.split("/", 3)[2]
        if creds is not None and realm.startswith("http://") and not is_loopback(realm_host):
            raise RegistryError(
                f"{ref.registry}: the token service {realm} is plain HTTP; "
                "kaosgen does not send credentials over it"
            )
        scope = params.get("scope") or f"repository:{ref.repository}:pull"
        query = {"scope": scope}
        if params.get("service"):
            query["service"] = params["service"]
        what = f"the token service {realm}"
        if creds is not None and creds.identity_token:
            response = self._raw(
                "POST",
                realm,
                auth=_Authorization(None),
                data={
                    **query,
                    "grant_type": "refresh_token",
                    "refresh_token": creds.identity_token,
                    "client_id": USER_AGENT,
                },
            )
        else:
            basic = creds.basic if creds is not None else None
            response = self._raw(
                "GET", realm, params=query, auth=_Authorization(basic and _basic(*basic))
            )
        if response.status_code in (401, 403):
            response.close()
            self._unauthorized(ref, creds)
        if response.status_code != 200:
            response.close()
            raise RegistryError(f"{what} answered HTTP {response.status_code}")
        body = _json(
            _read_bounded(response, MAX_TOKEN_BYTES, f"the answer of {what}", self._body_seconds)
        )
        token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{what} answered without a token")
        return token

    # --- errors -----------------------------------------------------------------------

    def _unauthorized(self, ref: ImageReference, creds: Credentials | None) -> None:
        if creds is None:
            raise RegistryError(
                f"{ref.registry} requires authentication to read {ref.repository} "
                "(or the repository does not exist)",
                LOGIN_HINT.format(registry=ref.registry),
            )
        raise RegistryError(
            f"{ref.registry} rejected the credentials from {creds.source} for {ref.repository}",
            "check they are current and may pull this repository; "
            + LOGIN_HINT.format(registry=ref.registry),
        )

    def _not_found(self, ref: ImageReference, tag: str, body: bytes) -> None:
        codes = _error_codes(body)
        if "NAME_UNKNOWN" in codes:
            raise RegistryError(
                f"repository {ref.repository} does not exist at {ref.registry}",
                "check the image name (and the registry it is pushed to)",
            )
        raise RegistryError(
            f"{ref.registry} has no tag {tag!r} in repository {ref.repository}",
            "check the image name and tag (registries report a missing repository the same "
            "way), or push it first",
        )

    def _check_status(self, ref: ImageReference, response: requests.Response) -> None:
        status = response.status_code
        if status == 200:
            return
        response.close()
        if status == 403:
            raise RegistryError(f"{ref.registry} denied access to {ref.repository}")
        if status == 429:
            wait = response.headers.get("Retry-After")
            raise RegistryError(
                f"{ref.registry} rate-limits this client"
                + (f" (retry after {wait}s)" if wait else ""),
                "log in to raise the limit, or try later",
            )
        raise RegistryError(f"{ref.registry} answered HTTP {status} for the manifest of {ref}")

    def _check_schema1(self, ref: ImageReference, media_type: str) -> None:
        if media_type in _SCHEMA1:
            raise RegistryError(
                f"{ref} exists only as a Docker schema 1 manifest, which current runtimes no "
                "longer pull",
                "rebuild and push it with a current Docker or buildah",
            )


def _media_type(response: requests.Response) -> str:
    return response.headers.get("Content-Type", "").split(";")[0].strip()


def _short(exc: BaseException) -> str:
    """The innermost reason of a requests/urllib3 error, without the pool's wrapping."""
    reason: object = exc
    for _ in range(8):
        inner = getattr(reason, "reason", None)
        if inner is None and isinstance(reason, BaseException) and reason.args:
            first = reason.args[0]
            inner = first if isinstance(first, BaseException) else None
        if inner is None or inner is reason:
            break
        reason = inner
    text = str(reason)
    if text.startswith(("HTTPSConnection(", "HTTPConnection(", "<urllib3")) and "): " in text:
        text = text.split("): ", 1)[1]
    return text[:300]
