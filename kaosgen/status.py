"""`kaosgen status`: the phase the KAOS operator would show for each rendered workload.

Read-only: one `list deployments` call per namespace (the `get`/`list` verbs on
`apps/deployments` are all the RBAC it needs); nothing is created, patched or deleted.

The phase follows the KAOS operator: `Ready` once the workload's Deployment has a ready
replica, `Pending` while it has none, `Failed` when the Deployment reports
`ReplicaFailure` or a `Progressing=False` condition (e.g. ProgressDeadlineExceeded), and
`Missing` when no Deployment of that name exists (KAOS would not have a resource at all).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

LABEL_SELECTOR = "app in (agent,modelapi,mcpserver)"


@dataclass
class WorkloadStatus:
    kind: str
    name: str
    namespace: str
    deployment: str
    phase: str
    desired: int = 0
    ready: int = 0
    updated: int = 0
    available: int = 0
    message: str = ""
    conditions: list[dict[str, str]] = field(default_factory=list)


class StatusError(RuntimeError):
    pass


def _get(obj: Any, name: str, default: Any = None) -> Any:
    value = getattr(obj, name, default)
    return default if value is None else value


def phase_of(
    kind: str, name: str, namespace: str, deployment_name: str, dep: Any | None
) -> WorkloadStatus:
    if dep is None:
        return WorkloadStatus(
            kind, name, namespace, deployment_name, "Missing", message="Deployment not found"
        )
    spec, status, meta = dep.spec, dep.status, dep.metadata
    desired = _get(spec, "replicas", 1)
    ready = _get(status, "ready_replicas", 0)
    updated = _get(status, "updated_replicas", 0)
    available = _get(status, "available_replicas", 0)
    conditions = []
    failed = None
    for cond in _get(status, "conditions", []) or []:
        entry = {
            "type": cond.type,
            "status": cond.status,
            "reason": cond.reason or "",
            "message": cond.message or "",
        }
        conditions.append(entry)
        if cond.type == "ReplicaFailure" and cond.status == "True":
            failed = entry
        if cond.type == "Progressing" and cond.status == "False" and failed is None:
            failed = entry
    result = WorkloadStatus(
        kind,
        name,
        namespace,
        deployment_name,
        "Pending",
        desired,
        ready,
        updated,
        available,
        conditions=conditions,
    )
    if failed is not None:
        result.phase = "Failed"
        result.message = f"{failed['type']}: {failed['reason']}: {failed['message']}".strip(": ")
    elif ready > 0:
        result.phase = "Ready"
        if ready < desired or updated < desired:
            result.message = f"rolling out: {updated}/{desired} updated, {ready}/{desired} ready"
    else:
        result.phase = "Pending"
        generation = _get(meta, "generation", 0)
        observed = _get(status, "observed_generation", 0)
        if desired == 0:
            result.message = "scaled to 0 replicas"
        elif observed < generation:
            result.message = "waiting for the deployment controller"
        else:
            pending = [c for c in conditions if c["status"] != "True"]
            result.message = (
                "; ".join(f"{c['type']}: {c['reason']}" for c in pending) or "no ready replica yet"
            )
    return result


#: How long `status` waits for the API server, all requests together (--request-timeout).
DEFAULT_TIMEOUT = 1.0


def default_kubeconfig() -> str:
    """What kubectl reads: $KUBECONFIG (a list is merged), else ~/.kube/config."""
    return os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


def _vet_kubeconfig(path: str) -> None:
    """Each file of the (`:`-separated) kubeconfig list that exists must be a regular file
    of sane size: the kubernetes client would block forever on a FIFO and read a device
    or a huge file without end. Missing files are the client's to report."""
    from pathlib import Path

    from kaosgen.source import InputError, read_input_bytes

    for part in path.split(os.pathsep):
        if part and os.path.lexists(part):
            try:
                read_input_bytes(Path(part))
            except InputError as exc:
                raise StatusError(f"cannot load the kubeconfig {part}: {exc.message}") from None


def collect(
    workloads: list[tuple[str, str, str, str]],
    *,
    context: str | None = None,
    kubeconfig: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[WorkloadStatus]:
    """workloads: (kind, name, namespace or "", deployment name). "" means the context's
    namespace. Gives up after `timeout` seconds, whatever the network does (an address
    that drops packets, a server that accepts and never answers, a slow DNS)."""
    import yaml  # what the kubernetes client reads kubeconfigs with
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    path = kubeconfig or default_kubeconfig()
    _vet_kubeconfig(path)
    try:
        configuration = client.Configuration()
        config.load_kube_config(
            config_file=path,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
        contexts, active = config.list_kube_config_contexts(config_file=path)
        if context:
            active = next((c for c in contexts if c.get("name") == context), active)
    except (ConfigException, OSError, TypeError, ValueError, yaml.YAMLError) as exc:
        problem = str(exc).replace("\n", " ")
        raise StatusError(f"cannot load the kubeconfig {path}: {problem}") from exc
    default_ns = (active or {}).get("context", {}).get("namespace") or "default"
    where = f"{configuration.host} (kubeconfig {path}, context {(active or {}).get('name', '?')})"
    configuration.retries = False  # one attempt per request: the deadline is the user's
    resolved = [(k, n, ns or default_ns, d) for k, n, ns, d in workloads]
    namespaces = sorted({ns for _, _, ns, _ in resolved})
    outcome: dict[str, Any] = {}
    # Built before the clock starts: the first use of the API class costs a second of
    # imports and schema building on a busy machine, which is not the cluster's time.
    api_client = client.ApiClient(configuration)
    apps = client.AppsV1Api(api_client)
    apps.list_namespaced_deployment  # noqa: B018 - resolve the lazily built method now

    def fetch() -> None:
        try:
            outcome["found"] = _list_deployments(apps, namespaces, timeout)
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            api_client.close()

    worker = threading.Thread(target=fetch, name="kaosgen-status", daemon=True)
    worker.start()
    worker.join(timeout + 0.1)
    if worker.is_alive():
        raise StatusError(f"no answer from the API server {where} within {timeout:g}s")
    error = outcome.get("error")
    if error is not None:
        raise StatusError(_describe_failure(error, where, timeout)) from error
    found = outcome["found"]
    return [phase_of(k, n, ns, d, found.get((ns, d))) for k, n, ns, d in resolved]


def _list_deployments(apps: Any, namespaces: list[str], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    found: dict[tuple[str, str], Any] = {}
    for namespace in namespaces:
        left = max(deadline - time.monotonic(), 0.01)
        listing = apps.list_namespaced_deployment(
            namespace, label_selector=LABEL_SELECTOR, _request_timeout=(left, left)
        )
        for dep in listing.items:
            found[(namespace, dep.metadata.name)] = dep
    return found


def _describe_failure(error: BaseException, where: str, timeout: float) -> str:
    from kubernetes.client.exceptions import ApiException

    if isinstance(error, ApiException):
        return f"the API server {where} answered {error.status} {error.reason}".strip()
    if "timed out" in str(error).lower():
        return f"no answer from the API server {where} within {timeout:g}s"
    reason = getattr(error, "reason", None) or error
    return f"cannot reach the API server {where}: {str(reason).rsplit(': ', 1)[-1]}"


def format_table(rows: list[WorkloadStatus]) -> str:
    header = ("KIND", "NAME", "NAMESPACE", "PHASE", "READY", "UP-TO-DATE", "AVAILABLE", "MESSAGE")
    table = [header]
    for r in rows:
        table.append(
            (
                r.kind,
                r.name,
                r.namespace,
                r.phase,
                f"{r.ready}/{r.desired}",
                str(r.updated),
                str(r.available),
                r.message,
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    lines = []
    for row in table:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("   ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines) + "\n"


def format_json(rows: list[WorkloadStatus]) -> str:
    return json.dumps({"workloads": [asdict(r) for r in rows]}, indent=2) + "\n"
