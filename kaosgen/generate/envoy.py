"""Envoy Gateway policies for a route (`gateway.vendor: envoy`).

- `SecurityPolicy` (gateway.envoyproxy.io/v1alpha1): `apiKeyAuth` with the keys in a
  Secret the project references (never written), and/or `jwt` with remote JWKS providers.
  Envoy Gateway applies both when both are set: a request then needs a valid key and a
  valid token.
- `BackendTrafficPolicy`: a local rate limit (per Envoy replica) on the route.

Each policy targets one HTTPRoute by name and is named after it, in the route's namespace
(where the Secret must live too).
"""

from __future__ import annotations

from typing import Any

from kaosgen.effective import Route
from kaosgen.generate import pods
from kaosgen.graph import Workload
from kaosgen.models.exposure import GatewayAuth, RateLimit
from kaosgen.models.project import Project

API_VERSION = "gateway.envoyproxy.io/v1alpha1"


def _metadata(node: Workload, project: Project) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": node.route_name}
    if node.namespace:
        meta["namespace"] = node.namespace
    meta["labels"] = pods.object_labels(node, project.labels)
    return meta


def _target(node: Workload) -> list[dict[str, Any]]:
    return [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": node.route_name}]


def _api_key(auth: GatewayAuth) -> dict[str, Any] | None:
    key = auth.api_key
    if key is None:
        return None
    spec: dict[str, Any] = {
        "credentialRefs": [{"group": "", "kind": "Secret", "name": key.secret_ref.name}],
        "extractFrom": [{"headers": [key.header]}],
    }
    if key.forward_client_id_header:
        spec["forwardClientIDHeader"] = key.forward_client_id_header
    # The backend never sees the key.
    spec["sanitize"] = True
    return spec


def _jwt(auth: GatewayAuth) -> dict[str, Any] | None:
    if auth.jwt is None:
        return None
    providers = []
    for provider in auth.jwt.providers:
        entry: dict[str, Any] = {"name": provider.name}
        if provider.issuer:
            entry["issuer"] = provider.issuer
        if provider.audiences:
            entry["audiences"] = list(provider.audiences)
        entry["remoteJWKS"] = {"uri": provider.remote_jwks.uri}
        if provider.claim_to_headers:
            entry["claimToHeaders"] = [
                {"claim": c.claim, "header": c.header} for c in provider.claim_to_headers
            ]
        providers.append(entry)
    return {"providers": providers}


def security_policy(node: Workload, project: Project, route: Route) -> dict[str, Any] | None:
    """The route's SecurityPolicy, or None when it gets no authentication from kaosgen."""
    auth = route.auth
    if auth is None or not auth.rendered:
        return None
    spec: dict[str, Any] = {"targetRefs": _target(node)}
    api_key, jwt = _api_key(auth), _jwt(auth)
    if api_key:
        spec["apiKeyAuth"] = api_key
    if jwt:
        spec["jwt"] = jwt
    return {
        "apiVersion": API_VERSION,
        "kind": "SecurityPolicy",
        "metadata": _metadata(node, project),
        "spec": spec,
    }


def rate_limit_policy(node: Workload, project: Project, limit: RateLimit) -> dict[str, Any]:
    """A local rate limit on the route. `type: Local` is deprecated upstream but still what
    released Envoy Gateway versions require, and the current one accepts it."""
    return {
        "apiVersion": API_VERSION,
        "kind": "BackendTrafficPolicy",
        "metadata": _metadata(node, project),
        "spec": {
            "targetRefs": _target(node),
            "rateLimit": {
                "type": "Local",
                "local": {"rules": [{"limit": {"requests": limit.requests, "unit": limit.unit}}]},
            },
        },
    }
