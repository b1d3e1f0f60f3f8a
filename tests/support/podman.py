"""Run OCI images with podman the way a rendered pod runs them (no Docker daemon needed).

`pod_flags` turns a rendered Deployment's pod and container securityContext, env and
emptyDir volumes into `podman run` flags, and refuses any field it does not understand,
so the tests cannot silently run an image with less confinement than the manifest asks for.
Storage is private to the test (`--root`/`--runroot`); the OCI runtime is crun, or runc
where crun cannot run containers (cgroup v1 hybrid hosts like this one).
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

RUNTIMES = ("crun", "runc")


def missing() -> list[str]:
    return [tool for tool in ("podman",) if shutil.which(tool) is None]


class Podman:
    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        # podman's defaults (nofile 1048576, nproc = the host's) fail on this machine's
        # lower hard limits: ask for less, as a kubelet leaves the runtime's defaults.
        nofile = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 65536)
        nproc = 4096
        self.ulimits = [f"nofile={nofile}:{nofile}", f"nproc={nproc}:{nproc}"]
        self.runtime = ""
        self.containers: list[str] = []
        self.networks: list[str] = []

    def command(self, *args: str) -> list[str]:
        base = ["podman", "--root", str(self.home / "storage"), "--runroot"]
        base += [str(self.home / "run"), "--cgroup-manager", "cgroupfs", "--events-backend"]
        base += ["none"]
        if self.runtime:
            base += ["--runtime", self.runtime]
        return [*base, *args]

    def __call__(self, *args: str, timeout: float = 300, check: bool = True) -> str:
        proc = subprocess.run(self.command(*args), capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args[:3])} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout.strip()

    def load(self, layout: Path, tag: str, name: str) -> str:
        image_id = self("pull", "--quiet", f"oci:{layout}:{tag}").splitlines()[-1]
        self("tag", image_id, name)
        return name

    def choose_runtime(self, image: str) -> str:
        """The first OCI runtime that runs a container here; '' when none does."""
        for runtime in RUNTIMES:
            if shutil.which(runtime) is None:
                continue
            self.runtime = runtime
            probe = ["run", "--rm", "--network=none", *self.ulimit_flags(), image, "true"]
            if subprocess.run(self.command(*probe), capture_output=True).returncode == 0:
                return runtime
        self.runtime = ""
        return ""

    def ulimit_flags(self) -> list[str]:
        return [flag for limit in self.ulimits for flag in ("--ulimit", limit)]

    def network(self) -> tuple[str, str]:
        """A new bridge network of this test: (name, gateway address on the host)."""
        name = f"kaosgen-test-{uuid.uuid4().hex[:8]}"
        self("network", "create", name)
        self.networks.append(name)
        (info,) = json.loads(self("network", "inspect", name))
        return name, info["subnets"][0]["gateway"]

    def run(self, image: str, flags: list[str], name: str) -> str:
        self("run", "--detach", "--name", name, *self.ulimit_flags(), *flags, image)
        self.containers.append(name)
        return name

    def ip(self, container: str, network: str) -> str:
        (info,) = json.loads(self("inspect", container))
        return info["NetworkSettings"]["Networks"][network]["IPAddress"]

    def exec(self, container: str, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command("exec", container, *argv), capture_output=True, text=True, timeout=60
        )

    def logs(self, container: str) -> str:
        return self("logs", container, check=False)

    def cleanup(self) -> None:
        for container in self.containers:
            self("rm", "--force", "--time", "5", container, check=False)
        for network in self.networks:
            self("network", "rm", "--force", network, check=False)
        self("rmi", "--all", "--force", check=False)
        # podman keeps its overlay directory mounted on itself: release it for rm -rf.
        subprocess.run(["umount", str(self.home / "storage" / "overlay")], capture_output=True)


_KNOWN_POD = {"runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "seccompProfile"}
_KNOWN_CONTAINER = {
    "allowPrivilegeEscalation",
    "readOnlyRootFilesystem",
    "runAsNonRoot",
    "capabilities",
    "seccompProfile",
}


#: What the kubelet's downward API gives a pod (the fields the renders use), for a pod in
#: the `default` namespace.
DOWNWARD_API = {"metadata.namespace": "default"}


def pod_flags(deployment: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """`podman run` flags for the first container of a rendered Deployment, and its env."""
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    pod_sc = pod.get("securityContext", {})
    sc = container.get("securityContext", {})
    assert set(pod_sc) <= _KNOWN_POD, set(pod_sc) - _KNOWN_POD
    assert set(sc) <= _KNOWN_CONTAINER, set(sc) - _KNOWN_CONTAINER
    flags = ["--user", f"{pod_sc['runAsUser']}:{pod_sc['runAsGroup']}"]
    flags += ["--group-add", str(pod_sc["fsGroup"])]
    if sc.get("readOnlyRootFilesystem"):
        flags += ["--read-only", "--read-only-tmpfs=false"]  # no implicit writable dirs
    if sc.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    assert sc.get("capabilities") == {"drop": ["ALL"]}, sc.get("capabilities")
    flags += ["--cap-drop", "ALL"]
    # RuntimeDefault seccomp: podman's default profile (nothing to add).
    assert sc.get("seccompProfile", pod_sc.get("seccompProfile")) == {"type": "RuntimeDefault"}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        assert set(volume) == {"name", "emptyDir"}, volume  # only emptyDirs are rendered here
        size = volume["emptyDir"].get("sizeLimit", "64Mi").replace("Mi", "m").replace("Gi", "g")
        flags += ["--tmpfs", f"{mount['mountPath']}:rw,nosuid,nodev,size={size},mode=1777"]
    env = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        field = item.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        assert field in DOWNWARD_API, f"{item['name']}: cannot resolve {item.get('valueFrom')}"
        env[item["name"]] = DOWNWARD_API[field]
    return flags, env
