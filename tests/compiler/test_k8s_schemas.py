"""Every object of every built overlay is valid Kubernetes.

- Core objects against the Kubernetes OpenAPI schemas (`kubernetes-validate`, newest
  version it ships, strict: unknown fields fail).
- HTTPRoutes against the Gateway API v1 CRD schema from `tests/data/crds/gateway-api/` (made strict the
  same way), plus the CEL rules a JSON Schema validator cannot check, in code.
- Pod templates against the "restricted" Pod Security Standard, written here from the
  standard (not kaosgen's own check), plus requests/limits and no service-account token.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from support.compiler import PROJECTS, Renders, crd_file, load_file, strict_schema

# --- Kubernetes OpenAPI -------------------------------------------------------------------

K8S_VERSION = kubernetes_validate.utils.latest_version()
#: API groups of custom resources kaosgen renders (Gateway API, Envoy Gateway).
CRD_GROUPS = ("gateway.networking.k8s.io/", "gateway.envoyproxy.io/")


@pytest.fixture(scope="module")
def k8s_validate() -> Iterator[Any]:
    """kubernetes_validate.validate, strict, with its schema files read once (not per object)."""
    with pytest.MonkeyPatch.context() as mp:
        utils = kubernetes_validate.utils
        mp.setattr(
            utils, "schema_contents", functools.lru_cache(maxsize=None)(utils.schema_contents)
        )

        def validate(obj: dict[str, Any]) -> None:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)

        yield validate


def _describe(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_every_object_validates_against_the_kubernetes_schemas(
    project: str, renders: Renders, k8s_validate: Any
) -> None:
    failures = []
    checked = 0
    for env, objects in renders.overlays(project).items():
        for obj in objects:
            if obj["apiVersion"].startswith(CRD_GROUPS):
                continue  # validated against their CRDs (below, and test_gateway_policies.py)
            try:
                k8s_validate(obj)
                checked += 1
            except kubernetes_validate.ValidationError as exc:
                path = "/".join(str(p) for p in exc.path)
                failures.append(f"{env}: {_describe(obj)} at {path}: {exc.message}")
            except kubernetes_validate.SchemaNotFoundError as exc:
                failures.append(f"{env}: {_describe(obj)}: {exc.message}")
    assert not failures, "\n".join(failures)
    assert checked > 0


def test_strict_validation_rejects_unknown_fields(k8s_validate: Any) -> None:
    """The validator really is strict (a test that cannot fail proves nothing)."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"ports": [{"port": 80}], "selectr": {"app": "x"}},
    }
    with pytest.raises(kubernetes_validate.ValidationError, match="selectr"):
        k8s_validate(service)


# --- names, labels and annotations (the API server's own checks) ---------------------------

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def _key_problems(key: str) -> list[str]:
    prefix, _, name = key.rpartition("/")
    problems = []
    if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        problems.append(f"key prefix {prefix!r} is not a DNS subdomain")
    if len(name) > 63 or not _QUALIFIED_NAME.match(name):
        problems.append(f"key name {name!r} is not a qualified name")
    return problems


def metadata_problems(obj: dict[str, Any]) -> list[str]:
    meta = obj.get("metadata", {})
    name = meta.get("name", "")
    problems = []
    pattern = _DNS1035_LABEL if obj["kind"] == "Service" else _DNS1123_SUBDOMAIN
    limit = 63 if obj["kind"] == "Service" else 253
    if not pattern.match(name) or len(name) > limit:
        problems.append(f"name {name!r} is not valid for a {obj['kind']}")
    if obj["kind"] in ("Deployment",) and len(name) > 63:
        problems.append(f"name {name!r} is longer than 63 (pods would not get hostnames)")
    ns = meta.get("namespace")
    if ns is not None and not _DNS1123_LABEL.match(ns):
        problems.append(f"namespace {ns!r} is not a DNS-1123 label")
    label_sets = [meta.get("labels") or {}]
    template = (obj.get("spec") or {}).get("template")
    if isinstance(template, dict):
        label_sets.append((template.get("metadata") or {}).get("labels") or {})
    for labels in label_sets:
        for key, value in labels.items():
            problems += [f"label {p}" for p in _key_problems(key)]
            if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
                problems.append(f"label {key}={value!r} has an invalid value")
    for key, value in (meta.get("annotations") or {}).items():
        problems += [f"annotation {p}" for p in _key_problems(key)]
        if not isinstance(value, str):
            problems.append(f"annotation {key} is not a string")
    return problems


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_names_labels_and_annotations_are_valid(project: str, renders: Renders) -> None:
    failures = []
    for env, objects in renders.overlays(project).items():
        seen: set[tuple[str, str, str]] = set()
        for obj in objects:
            failures += [f"{env}: {_describe(obj)}: {p}" for p in metadata_problems(obj)]
            key = (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            if key in seen:
                failures.append(f"{env}: {_describe(obj)} appears twice")
            seen.add(key)
    assert not failures, "\n".join(failures)


# --- HTTPRoute: Gateway API v1 CRD schema + CEL rules ---------------------------------------


@functools.lru_cache(maxsize=1)
def httproute_validator() -> jsonschema.Validator:
    (crd,) = load_file(crd_file("gateway-api", "gateway.networking.k8s.io_httproutes.yaml"))
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1" and v["served"]]
    schema = strict_schema(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
    # metadata is `type: object` in a CRD; the API server checks it as ObjectMeta.
    schema["properties"]["metadata"] = {"type": "object"}
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema)


_PATH_CHARS = re.compile(r"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$")
_FILTER_FIELDS = {
    "RequestHeaderModifier": "requestHeaderModifier",
    "ResponseHeaderModifier": "responseHeaderModifier",
    "RequestMirror": "requestMirror",
    "RequestRedirect": "requestRedirect",
    "URLRewrite": "urlRewrite",
    "ExtensionRef": "extensionRef",
    "CORS": "cors",
}
_DURATION = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")


def _seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(int(n) * units[u] for n, u in re.findall(r"([0-9]+)(ms|h|m|s)", duration))


def httproute_cel_problems(route: dict[str, Any]) -> list[str]:
    """The x-kubernetes-validations of the v1 HTTPRoute CRD that apply to what we render."""
    problems: list[str] = []
    spec = route.get("spec", {})
    rules = spec.get("rules") or []
    if len(rules) > 16:
        problems.append(f"{len(rules)} rules (at most 16)")
    if sum(len(r.get("matches") or []) for r in rules) > 128:
        problems.append("more than 128 matches across all rules")
    parents = spec.get("parentRefs") or []
    keys = [
        (p.get("group"), p.get("kind"), p.get("name"), p.get("namespace") or "") for p in parents
    ]
    for key in set(keys):
        same = [p for p, k in zip(parents, keys, strict=True) if k == key]
        sections = [p.get("sectionName") for p in same]
        if len(same) > 1 and (None in sections or len(set(sections)) != len(sections)):
            problems.append("sectionName must be set and unique for repeated parentRefs")
    for i, rule in enumerate(rules):
        where = f"rules[{i}]"
        matches = rule.get("matches") or [{"path": {"type": "PathPrefix", "value": "/"}}]
        filters = rule.get("filters") or []
        for match in matches:
            path = match.get("path")
            if not path:
                continue
            value = path.get("value", "/")
            if path.get("type", "PathPrefix") in ("Exact", "PathPrefix"):
                bad = [s for s in ("//", "/./", "/../", "%2f", "%2F", "#") if s in value]
                if not value.startswith("/") or bad or value.endswith(("/..", "/.")):
                    problems.append(f"{where}: invalid path {value!r}")
                if not _PATH_CHARS.match(value):
                    problems.append(f"{where}: path {value!r} has invalid characters")
        types = [f.get("type") for f in filters]
        for t in set(types):
            if types.count(t) > 1 and t != "RequestMirror":
                problems.append(f"{where}: {t} filter repeated")
        if "RequestRedirect" in types and "URLRewrite" in types:
            problems.append(f"{where}: RequestRedirect and URLRewrite together")
        if "RequestRedirect" in types and rule.get("backendRefs"):
            problems.append(f"{where}: RequestRedirect with backendRefs")
        for f in filters:
            for ftype, fld in _FILTER_FIELDS.items():
                if (fld in f) != (f.get("type") == ftype):
                    problems.append(f"{where}: filter {f.get('type')} and field {fld} disagree")
            for fld in ("urlRewrite", "requestRedirect"):
                p = (f.get(fld) or {}).get("path")
                if not p:
                    continue
                if (p.get("type") == "ReplacePrefixMatch") != ("replacePrefixMatch" in p):
                    problems.append(f"{where}: {fld}.path type/replacePrefixMatch disagree")
                if (p.get("type") == "ReplaceFullPath") != ("replaceFullPath" in p):
                    problems.append(f"{where}: {fld}.path type/replaceFullPath disagree")
                if p.get("type") == "ReplacePrefixMatch":
                    declared = rule.get("matches") or []
                    if (
                        len(declared) != 1
                        or (declared[0].get("path") or {}).get("type") != "PathPrefix"
                    ):
                        problems.append(
                            f"{where}: {fld} with ReplacePrefixMatch needs exactly one PathPrefix match"
                        )
        for ref in rule.get("backendRefs") or []:
            if (
                ref.get("group", "") == ""
                and ref.get("kind", "Service") == "Service"
                and "port" not in ref
            ):
                problems.append(f"{where}: backendRef {ref.get('name')} to a Service without port")
        timeouts = rule.get("timeouts") or {}
        for key, value in timeouts.items():
            if not _DURATION.match(value):
                problems.append(f"{where}: timeouts.{key} {value!r} is not a Gateway API duration")
        request, backend = timeouts.get("request"), timeouts.get("backendRequest")
        if request and backend and _seconds(request) != 0 and _seconds(backend) > _seconds(request):
            problems.append(f"{where}: backendRequest timeout longer than request timeout")
    return problems


def _routes(
    renders: Renders, project: str
) -> Iterator[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    for env, objects in renders.overlays(project).items():
        for obj in objects:
            if obj["kind"] == "HTTPRoute":
                yield env, obj, objects


def _projects_with_routes() -> list[str]:
    names = []
    for name, path in PROJECTS.items():
        (config,) = load_file(path / "kaosgen.yaml")
        if (config.get("gateway") or {}).get("enabled"):
            names.append(name)
    return sorted(names)


@pytest.mark.parametrize("project", _projects_with_routes())
def test_httproutes_validate_against_the_gateway_api_crd(project: str, renders: Renders) -> None:
    validator = httproute_validator()
    failures = []
    routes = list(_routes(renders, project))
    assert routes, f"{project} enables the gateway but renders no HTTPRoute"
    for env, route, _ in routes:
        assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
        for error in validator.iter_errors(route):
            path = "/".join(str(p) for p in error.absolute_path)
            failures.append(f"{env}: {_describe(route)} at {path}: {error.message}")
        failures += [f"{env}: {_describe(route)}: {p}" for p in httproute_cel_problems(route)]
    assert not failures, "\n".join(failures)


def _forwarded(rule: dict[str, Any], prefix: str) -> list[tuple[str, str, str | None]]:
    """(match type, path in the pod, method) a rule forwards, checking its rewrite and the
    X-Forwarded-Prefix header (kaosgen's addition: the runtime builds the card's URL from
    it) where a card may be served: a whole-prefix rule, the /.well-known rule."""
    (rewrite,) = [f["urlRewrite"]["path"] for f in rule["filters"] if f["type"] == "URLRewrite"]
    headers = [
        h
        for f in rule["filters"]
        if f["type"] == "RequestHeaderModifier"
        for h in f["requestHeaderModifier"]["set"]
    ]
    card = rewrite.get("replacePrefixMatch") in ("/", "/.well-known")
    assert headers == ([{"name": "X-Forwarded-Prefix", "value": prefix}] if card else [])
    out = []
    for match in rule["matches"]:
        kind, value = match["path"]["type"], match["path"]["value"]
        assert value == prefix or value.startswith(prefix + "/"), (value, prefix)
        inner = value[len(prefix) :] or "/"
        if kind == "PathPrefix":
            assert rewrite == {"type": "ReplacePrefixMatch", "replacePrefixMatch": inner}
        else:
            assert rewrite == {
                "type": "ReplaceFullPath",
                "replaceFullPath": inner.rstrip("/") or "/",
            }
        out.append((kind, inner.rstrip("/") or "/", match.get("method")))
    return out


@pytest.mark.parametrize("project", _projects_with_routes())
def test_httproutes_have_the_kaos_shape_per_environment(project: str, renders: Renders) -> None:
    """Paths under /<namespace>/<agent|modelapi|mcp>/<name>, rewritten, to the workload's
    Service port, in the Service's own namespace (no ReferenceGrant needed). An MCP server:
    one rule forwarding everything, as KAOS does. An agent: its public API and
    the A2A paths (kaos_contract.env), never its memory, metrics or health endpoints unless
    the project routes that group. A ModelAPI: its inference paths, or everything with
    route.fullApi."""
    from kaos_contract import env as contract

    segments = {"agent": "agent", "modelapi": "modelapi", "mcpserver": "mcp"}
    public = {*contract.AGENT_PUBLIC_PATHS, *contract.AGENT_A2A_PATHS}
    private = {p: g for g, paths in contract.AGENT_PRIVATE_PATHS.items() for p in paths}
    for env, route, objects in _routes(renders, project):
        labels = route["metadata"]["labels"]
        app = labels["app"]
        name = labels[app]
        namespace = route["metadata"].get("namespace", "default")
        assert route["metadata"]["name"] == f"{segments[app]}-{name}"
        prefix = f"/{namespace}/{segments[app]}/{name}"
        forwarded = [p for rule in route["spec"]["rules"] for p in _forwarded(rule, prefix)]
        if app == "agent":
            assert public <= set(forwarded), (env, name, forwarded)
            extra = [p for p in forwarded if p not in public]
            assert all(p in private for p in extra), (env, name, extra)
            # A private group is routed whole or not at all.
            groups = {private[p] for p in extra}
            for group in groups:
                assert set(contract.AGENT_PRIVATE_PATHS[group]) <= set(forwarded)
        elif app == "modelapi":
            # Inference only, unless the project routes the whole API.
            from kaosgen.generate import gateway

            inference = {*gateway.OLLAMA_INFERENCE_PATHS, *gateway.LITELLM_INFERENCE_PATHS}
            whole = [("PathPrefix", "/", None)]
            assert forwarded == whole or set(forwarded) <= inference, (env, name, forwarded)
        else:
            assert forwarded == [("PathPrefix", "/", None)], (env, name, forwarded)
        services = {
            (o["metadata"].get("namespace", "default"), o["metadata"]["name"]): o
            for o in objects
            if o["kind"] == "Service"
        }
        for rule in route["spec"]["rules"]:
            (backend,) = rule["backendRefs"]
            service = services.get((namespace, backend["name"]))
            assert service is not None, f"{env}: route {name} points at a missing Service"
            assert backend["port"] in [p["port"] for p in service["spec"]["ports"]]
            timeout = (rule.get("timeouts") or {}).get("request")
            assert timeout is None or _DURATION.match(timeout)


def test_the_cel_checks_catch_a_bad_route() -> None:
    route = {
        "spec": {
            "rules": [
                {
                    "matches": [
                        {"path": {"type": "PathPrefix", "value": "/a"}},
                        {"path": {"type": "PathPrefix", "value": "/b//c"}},
                    ],
                    "filters": [
                        {
                            "type": "URLRewrite",
                            "urlRewrite": {
                                "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}
                            },
                        }
                    ],
                    "backendRefs": [{"name": "svc"}],
                }
            ]
            * 17
        }
    }
    problems = " | ".join(httproute_cel_problems(route))
    assert "17 rules" in problems
    assert "exactly one PathPrefix match" in problems
    assert "invalid path '/b//c'" in problems
    assert "without port" in problems


def test_the_httproute_schema_isstrict_schema() -> None:
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "x"},
        "spec": {"rules": [{"backendRefs": [{"name": "svc", "port": 80, "weigth": 1}]}]},
    }
    errors = [e.message for e in httproute_validator().iter_errors(route)]
    assert any("weigth" in e for e in errors), errors


# --- Pod Security Standard "restricted", from the standard -----------------------------------

# https://kubernetes.io/docs/concepts/security/pod-security-standards/
_BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip
_RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image",
    "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip
_SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip
_SELINUX_TYPES = {
    None,
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
}
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


def pss_restricted_violations(pod: dict[str, Any], annotations: dict[str, str]) -> list[str]:
    """Violations of the baseline and restricted policies (latest version) for one pod spec."""
    v: list[str] = []
    psc = pod.get("securityContext") or {}
    containers = [
        *(pod.get("initContainers") or []),
        *(pod.get("containers") or []),
        *(pod.get("ephemeralContainers") or []),
    ]
    # Baseline.
    if (psc.get("windowsOptions") or {}).get("hostProcess"):
        v.append("pod: hostProcess")
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            v.append(f"pod: {field}")
    for vol in pod.get("volumes") or []:
        if "hostPath" in vol:
            v.append(f"volume {vol['name']}: hostPath")
        kinds = set(vol) - {"name"}
        if not kinds <= _RESTRICTED_VOLUMES:
            v.append(f"volume {vol['name']}: type {sorted(kinds)} not allowed")
    for sysctl in psc.get("sysctls") or []:
        if sysctl.get("name") not in _SAFE_SYSCTLS:
            v.append(f"pod: sysctl {sysctl.get('name')}")
    for key, value in annotations.items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and not (
            value == "runtime/default" or value.startswith("localhost/")
        ):
            v.append(f"annotation {key}={value}")
    for ctx_name, ctx in [
        ("pod", psc),
        *[(c["name"], c.get("securityContext") or {}) for c in containers],
    ]:
        if (ctx.get("appArmorProfile") or {}).get("type") not in (
            None,
            "RuntimeDefault",
            "Localhost",
        ):
            v.append(f"{ctx_name}: appArmorProfile")
        se = ctx.get("seLinuxOptions") or {}
        if se.get("type") not in _SELINUX_TYPES or se.get("user") or se.get("role"):
            v.append(f"{ctx_name}: seLinuxOptions")
        if (ctx.get("seccompProfile") or {}).get("type") == "Unconfined":
            v.append(f"{ctx_name}: seccomp Unconfined")
        if ctx.get("runAsUser") == 0:
            v.append(f"{ctx_name}: runAsUser 0")
    pod_non_root = psc.get("runAsNonRoot") is True
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type") in ("RuntimeDefault", "Localhost")
    for c in containers:
        name = c["name"]
        sc = c.get("securityContext") or {}
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            v.append(f"{name}: hostProcess")
        if sc.get("privileged"):
            v.append(f"{name}: privileged")
        caps = sc.get("capabilities") or {}
        added = set(caps.get("add") or [])
        if not added <= _BASELINE_CAPABILITIES:
            v.append(f"{name}: adds {sorted(added - _BASELINE_CAPABILITIES)}")
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                v.append(f"{name}: hostPort")
        handlers = [c.get(p) or {} for p in _PROBES]
        handlers += [h or {} for h in (c.get("lifecycle") or {}).values()]
        for handler in handlers:
            for kind in ("httpGet", "tcpSocket"):
                if (handler.get(kind) or {}).get("host"):
                    v.append(f"{name}: probe or hook with a host")
        if sc.get("procMount") not in (None, "Default"):
            v.append(f"{name}: procMount")
        # Restricted.
        if sc.get("allowPrivilegeEscalation") is not False:
            v.append(f"{name}: allowPrivilegeEscalation must be false")
        if sc.get("runAsNonRoot") is False or not (pod_non_root or sc.get("runAsNonRoot") is True):
            v.append(f"{name}: must set runAsNonRoot true")
        if not pod_seccomp and (sc.get("seccompProfile") or {}).get("type") not in (
            "RuntimeDefault",
            "Localhost",
        ):
            v.append(f"{name}: seccompProfile RuntimeDefault or Localhost required")
        if "ALL" not in (caps.get("drop") or []):
            v.append(f"{name}: must drop ALL capabilities")
        if not added <= {"NET_BIND_SERVICE"}:
            v.append(f"{name}: may only add NET_BIND_SERVICE")
    return v


def pod_templates(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    kind = obj["kind"]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        yield obj["spec"]["template"]
    elif kind == "CronJob":
        yield obj["spec"]["jobTemplate"]["spec"]["template"]
    elif kind == "Pod":
        yield obj


def test_the_pss_check_catches_violations() -> None:
    pod = {
        "hostNetwork": True,
        "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
        "containers": [
            {
                "name": "c",
                "securityContext": {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}},
                "ports": [{"containerPort": 80, "hostPort": 80}],
            }
        ],
    }
    found = " | ".join(pss_restricted_violations(pod, {}))
    for expected in (
        "hostNetwork",
        "hostPath",
        "privileged",
        "SYS_ADMIN",
        "hostPort",
        "allowPrivilegeEscalation",
        "runAsNonRoot",
        "seccompProfile",
        "drop ALL",
    ):
        assert expected in found


def _is_user_service_account(obj: dict[str, Any]) -> bool:
    """An MCP server that runs under the user's spec.serviceAccountName (it needs the token)."""
    labels = obj["metadata"].get("labels", {})
    spec = obj["spec"]["template"]["spec"]
    own = f"mcpserver-{labels.get('mcpserver')}"
    return labels.get("app") == "mcpserver" and spec.get("serviceAccountName") not in (None, own)


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_every_pod_passes_the_restricted_standard_with_resources_and_no_token(
    project: str, renders: Renders
) -> None:
    failures = []
    pods = 0
    for env, objects in renders.overlays(project).items():
        service_accounts = {
            o["metadata"]["name"]: o for o in objects if o["kind"] == "ServiceAccount"
        }
        for obj in objects:
            for template in pod_templates(obj):
                pods += 1
                where = f"{env}: {_describe(obj)}"
                spec = template["spec"]
                annotations = (template.get("metadata") or {}).get("annotations") or {}
                failures += [f"{where}: {p}" for p in pss_restricted_violations(spec, annotations)]
                mounts_tmp_emptydir = {
                    v["name"] for v in spec.get("volumes") or [] if "emptyDir" in v
                }
                for c in [*(spec.get("initContainers") or []), *spec["containers"]]:
                    res = c.get("resources") or {}
                    for section in ("requests", "limits"):
                        if not {"cpu", "memory"} <= set(res.get(section) or {}):
                            failures.append(
                                f"{where}: {c['name']} lacks {section} for cpu and memory"
                            )
                    if (c.get("securityContext") or {}).get("readOnlyRootFilesystem") is not True:
                        failures.append(f"{where}: {c['name']} has a writable root filesystem")
                    tmp = [m for m in c.get("volumeMounts") or [] if m["mountPath"] == "/tmp"]
                    if not tmp or tmp[0]["name"] not in mounts_tmp_emptydir:
                        failures.append(f"{where}: {c['name']} has no emptyDir at /tmp")
                user_sa = _is_user_service_account(obj)
                if spec.get("automountServiceAccountToken") is not False and not user_sa:
                    failures.append(f"{where}: automountServiceAccountToken is not false")
                sa_name = spec.get("serviceAccountName")
                if not user_sa:
                    sa = service_accounts.get(sa_name)
                    if sa is None:
                        failures.append(f"{where}: service account {sa_name!r} is not rendered")
                    elif sa.get("automountServiceAccountToken") is not False:
                        failures.append(f"{where}: ServiceAccount {sa_name} automounts its token")
    assert pods > 0
    assert not failures, "\n".join(failures)


def test_mcp_server_with_a_service_account_keeps_its_token(renders: Renders) -> None:
    """The one exception: an MCP server running under the user's serviceAccountName."""
    prod = renders.overlays("features")["prod"]
    (deployment,) = [
        o
        for o in prod
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "mcpserver-cluster-reader"
    ]
    spec = deployment["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "mcp-cluster-reader"
    assert spec["automountServiceAccountToken"] is True
    assert not [
        o
        for o in prod
        if o["kind"] == "ServiceAccount" and o["metadata"]["name"] == "mcpserver-cluster-reader"
    ]


# --- selectors: every Deployment, Service and NetworkPolicy finds its pods -------------------


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        present = expr["key"] in labels
        value = labels.get(expr["key"])
        op = expr["operator"]
        if (op == "In" and value not in expr["values"]) or (
            op == "NotIn" and value in expr["values"]
        ):
            return False
        if (op == "Exists" and not present) or (op == "DoesNotExist" and present):
            return False
    return True


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_selectors_find_their_pods(project: str, renders: Renders) -> None:
    """User labels can never detach pods from their Deployment, Service or policies."""
    failures = []
    for env, objects in renders.overlays(project).items():
        pods = [
            (o["metadata"].get("namespace"), o["spec"]["template"]["metadata"]["labels"])
            for o in objects
            if o["kind"] == "Deployment"
        ]
        for obj in objects:
            ns = obj["metadata"].get("namespace")
            where = f"{env}: {_describe(obj)}"
            if obj["kind"] == "Deployment":
                if not _matches(
                    obj["spec"]["selector"], obj["spec"]["template"]["metadata"]["labels"]
                ):
                    failures.append(f"{where}: selector does not match its template")
                if obj["metadata"]["labels"].get("app.kubernetes.io/managed-by") == "kaosgen":
                    template = obj["spec"]["template"]["metadata"]["labels"]
                    if template.get("app.kubernetes.io/managed-by") != "kaosgen":
                        failures.append(f"{where}: pods escape the default-deny policy")
            elif obj["kind"] == "Service":
                selector = {"matchLabels": obj["spec"]["selector"]}
                if not any(p_ns == ns and _matches(selector, labels) for p_ns, labels in pods):
                    failures.append(f"{where}: selects no pod")
            elif obj["kind"] in ("NetworkPolicy", "PodDisruptionBudget"):
                selector = obj["spec"].get("podSelector") or obj["spec"].get("selector")
                if selector and not any(
                    p_ns == ns and _matches(selector, labels) for p_ns, labels in pods
                ):
                    failures.append(f"{where}: selects no pod")
    assert not failures, "\n".join(failures)
