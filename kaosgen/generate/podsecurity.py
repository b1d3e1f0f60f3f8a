"""The Kubernetes Pod Security Standards (baseline and restricted, latest version) on a pod
spec, so a user's podSpec that weakens kaosgen's defaults is warned about before a namespace
enforcing `restricted` refuses the pod.

https://kubernetes.io/docs/concepts/security/pod-security-standards/
"""

from __future__ import annotations

from typing import Any

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
_CONFINED = ("RuntimeDefault", "Localhost")


def _context_violations(where: str, ctx: dict[str, Any]) -> list[str]:
    """The rules a pod's and a container's securityContext share."""
    problems = []
    if (ctx.get("windowsOptions") or {}).get("hostProcess"):
        problems.append(f"{where} is a Windows hostProcess")
    if (ctx.get("appArmorProfile") or {}).get("type") not in (None, *_CONFINED):
        problems.append(f"{where} has an unconfined appArmorProfile")
    se = ctx.get("seLinuxOptions") or {}
    if se.get("type") not in _SELINUX_TYPES or se.get("user") or se.get("role"):
        problems.append(f"{where} sets a custom seLinuxOptions type, user or role")
    if ctx.get("runAsUser") == 0:
        problems.append(f"{where} runs as uid 0")
    return problems


def _container_violations(c: dict[str, Any], pod_sc: dict[str, Any]) -> list[str]:
    sc = c.get("securityContext") or {}
    name = f"container {c.get('name')!r}"
    problems = _context_violations(name, sc)
    if sc.get("privileged"):
        problems.append(f"{name} is privileged")
    if sc.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{name} must set allowPrivilegeEscalation: false")
    caps = sc.get("capabilities") or {}
    if "ALL" not in (caps.get("drop") or []):
        problems.append(f"{name} must drop ALL capabilities")
    added = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
    if added:
        problems.append(f"{name} adds capabilities {sorted(added)}")
    # A container's own runAsNonRoot (false too) wins over the pod's.
    if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
        problems.append(f"{name} must run as non-root")
    seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
    if seccomp not in _CONFINED:
        problems.append(f"{name} needs seccompProfile RuntimeDefault")
    if sc.get("procMount") not in (None, "Default"):
        problems.append(f"{name} sets procMount {sc['procMount']}")
    if any(p.get("hostPort") for p in c.get("ports") or []):
        problems.append(f"{name} uses a hostPort")
    return problems


def restricted_violations(pod_spec: dict[str, Any]) -> list[str]:
    """What keeps a pod spec from passing the "restricted" Pod Security Standard."""
    problems: list[str] = []
    pod_sc = pod_spec.get("securityContext") or {}
    if pod_spec.get("hostNetwork") or pod_spec.get("hostPID") or pod_spec.get("hostIPC"):
        problems.append("host namespaces are not allowed")
    for vol in pod_spec.get("volumes") or []:
        kinds = sorted(set(vol) - {"name"} - _RESTRICTED_VOLUMES)
        if kinds:
            problems.append(f"{kinds[0]} volume {vol.get('name')!r} is not allowed")
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in _SAFE_SYSCTLS:
            problems.append(f"sysctl {sysctl.get('name')} is not allowed")
    problems += _context_violations("the pod", pod_sc)
    if (pod_sc.get("seccompProfile") or {}).get("type") == "Unconfined":
        problems.append("the pod's seccompProfile is Unconfined")
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        for c in pod_spec.get(kind) or []:
            problems += _container_violations(c, pod_sc)
    return problems
