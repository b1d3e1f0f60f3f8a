"""Build the two runtime images without a Docker daemon: mmdebstrap, bubblewrap and umoci.

The same recipe as `runtime/Dockerfile`, from Debian's packages instead of the python image:

1. a Debian bookworm root filesystem with Python 3.11 (`mmdebstrap`), cached as a tarball
   under `$KAOSGEN_IMAGE_CACHE` (default `~/.cache/kaosgen/images`) keyed by its recipe, so
   only the first build on a machine downloads Debian packages (about a minute);
2. the venv at /opt/venv: uv (the same release the Dockerfile installs) run inside that root
   filesystem under bubblewrap *without network*, installing the dependencies uv.lock pins
   (`uv export --extra runtime`) from a local wheelhouse, then kaosgen's wheel with
   `--no-deps`, both byte-compiled, as the Dockerfile's build stage does;
3. an OCI image layout (`umoci`): the root filesystem and the venv as two layers, and for
   each target the image config the Dockerfile gives it (ENV, USER, WORKDIR, CMD, EXPOSE,
   read by `support/dockerfile.py`, so the two cannot drift).

Run as root (mmdebstrap's root mode, ownership preserved in the layers), as CI does.

    python tests/support/image_build.py --wheel dist/kaosgen-*.whl --wheelhouse WH --out DIR
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.dockerfile import export_arguments, image_config, parse
from support.wheels import uv

REPO = Path(__file__).resolve().parents[2]
TARGETS = ("agent", "mcp-server")
SUITE = "bookworm"
PYTHON = "/usr/bin/python3.11"
VENV = "/opt/venv"
#: Debian's default PATH: what `$PATH` in the Dockerfile's `ENV PATH=` expands to there.
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: What the python:3.11-slim image has besides the interpreter: CA certificates, tzdata,
#: /etc/services (netbase); minbase brings no docs we keep.
PACKAGES = ("python3.11", "ca-certificates", "netbase", "tzdata")
DPKG_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*")
TOOLS = ("mmdebstrap", "umoci", "bwrap")


def missing_tools() -> list[str]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if os.geteuid() != 0:
        missing.append("root (mmdebstrap --mode=root, layer ownership)")
    return missing


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "kaosgen" / "images"
    return Path(os.environ.get("KAOSGEN_IMAGE_CACHE", default))


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def mmdebstrap_command(out: Path) -> list[str]:
    cmd = ["mmdebstrap", "--quiet", "--mode=root", "--variant=minbase", "--format=tar"]
    cmd.append("--include=" + ",".join(PACKAGES))
    cmd += [f"--dpkgopt=path-exclude={pattern}" for pattern in DPKG_EXCLUDES]
    # No apt lists or caches in the image; /tmp world-writable for the emptyDir-less case.
    cmd += ['--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*']
    return [*cmd, SUITE, str(out)]


def base_rootfs() -> Path:
    """The cached Debian root filesystem tarball (built on first use)."""
    key = hashlib.sha256(json.dumps(mmdebstrap_command(Path("-"))).encode()).hexdigest()[:16]
    target = cache_dir() / f"debian-{SUITE}-python3.11-{key}.tar"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".partial-{os.getpid()}")
    try:
        run(mmdebstrap_command(partial), timeout=1200)
        partial.rename(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def uv_binary() -> str:
    """The uv executable itself (it runs inside the image's root filesystem): the one on
    PATH, or behind a shim (pyenv) the one `pip install uv` put beside python3 (.ci/run
    installs the release the Dockerfile pins)."""
    found = os.path.realpath(uv())
    with open(found, "rb") as head:
        if head.read(4) == b"\x7fELF":
            return found
    probe = "import uv; print(uv.find_uv_bin())"
    return run(["python3", "-c", probe]).stdout.strip()


def locked_requirements() -> str:
    """What the Dockerfile installs: its own `uv export` (the `runtime` extra's closure,
    pinned by uv.lock, the compiler's dependencies pruned)."""
    _, stages = parse()
    arguments = export_arguments({stage.name: stage for stage in stages})
    return run(
        [
            uv_binary(),
            "export",
            *arguments,
            "--no-hashes",  # the wheelhouse holds repacked wheels, not PyPI's files
            "--quiet",
        ],
        cwd=REPO,
    ).stdout


#: The environment markers of the image's interpreter (Debian bookworm's Python 3.11.2):
#: uv.lock pins packages for it that the test venv's Python may not need (async-timeout).
IMAGE_MARKERS = {
    "python_version": "3.11",
    "python_full_version": "3.11.2",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "extra": "",
}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def image_only_requirements(wheelhouse: Path) -> list[str]:
    """`name==version` the image's interpreter needs that `wheelhouse` lacks."""
    from packaging.requirements import Requirement

    have = {
        tuple(_normalized(part) for part in wheel.name.split("-")[:2])
        for wheel in wheelhouse.glob("*.whl")
    }
    needed = []
    for line in locked_requirements().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-")):
            continue
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate(IMAGE_MARKERS):
            continue
        (pin,) = req.specifier
        if (_normalized(req.name), _normalized(pin.version)) not in have:
            needed.append(f"{req.name}=={pin.version}")
    return needed


def complete_wheelhouse(wheelhouse: Path, scratch: Path, *, offline: bool = True) -> None:
    """Add the image-only requirements to `wheelhouse`, from uv's cache (`offline`), else
    from the index (what `--warm-cache` does, once, before the tests)."""
    from importlib import metadata

    from support.wheels import repack

    needed = image_only_requirements(wheelhouse)
    if not needed:
        return
    target = scratch / "image-only"
    cmd = [uv_binary(), "pip", "install", "--quiet", "--no-deps", "--target", str(target)]
    cmd += ["--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_36"]
    proc = subprocess.run(
        [*cmd, *(["--offline"] if offline else []), *needed], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise ColdCache(
            f"{', '.join(needed)} (for the image's Python) not in uv's cache: run "
            f"`uv run python tests/support/image_build.py --warm-cache` once (.ci/run does)\n"
            f"{proc.stderr}"
        )
    for dist in metadata.distributions(path=[str(target)]):
        repack(dist, wheelhouse)


class ColdCache(RuntimeError):
    """Something the build needs is not cached yet: a download is needed (`--warm-cache`)."""


def build_venv(rootfs: Path, wheel: Path, wheelhouse: Path, scratch: Path) -> None:
    """Run uv inside `rootfs` (bubblewrap, no network): /opt/venv as the Dockerfile makes it."""
    (scratch / "requirements.txt").write_text(locked_requirements(), encoding="utf-8")
    sandbox = [
        "bwrap",
        "--bind", str(rootfs), "/",
        "--dev", "/dev",
        "--proc", "/proc",
        "--tmpfs", "/tmp",
        "--ro-bind", str(wheelhouse), "/tmp/wheels",
        "--ro-bind", str(wheel), f"/tmp/{wheel.name}",
        "--ro-bind", str(scratch / "requirements.txt"), "/tmp/requirements.txt",
        "--ro-bind", uv_binary(), "/tmp/uv",
        "--unshare-net",
        "--clearenv",
        "--setenv", "PATH", BASE_PATH,
        "--setenv", "HOME", "/tmp",
        "--setenv", "UV_CACHE_DIR", "/tmp/uv-cache",
        "--setenv", "UV_LINK_MODE", "copy",
        "--setenv", "UV_PYTHON_DOWNLOADS", "never",
        "--setenv", "UV_NO_CONFIG", "1",
    ]  # fmt: skip
    offline = ["--offline", "--no-index", "--find-links", "/tmp/wheels", "--compile-bytecode"]
    python = ["--python", f"{VENV}/bin/python"]
    steps = [
        ["/tmp/uv", "venv", "--quiet", VENV, "--python", PYTHON],
        ["/tmp/uv", "pip", "install", "--quiet", *python, *offline, "-r", "/tmp/requirements.txt"],
        ["/tmp/uv", "pip", "install", "--quiet", *python, *offline, "--no-deps", f"/tmp/{wheel.name}"],
        [f"{VENV}/bin/python", "-c", "import kaos_runtime.memory, kaos_runtime.mcp_server.app"],
    ]  # fmt: skip
    for step in steps:
        run([*sandbox, *step], timeout=900)


@dataclass(frozen=True)
class BuiltImages:
    layout: Path  # OCI image layout; tags "agent" and "mcp-server"
    rootfs_bytes: int  # the unpacked root filesystem, venv included
    layer_bytes: int  # the compressed layers (what a registry stores and a node pulls)
    seconds: dict[str, float]  # per build step


def _tree_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            file = Path(root, name)
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def umoci_config_args(target: str) -> list[str]:
    config = image_config(target)
    args = ["--clear=config.env", "--clear=config.cmd", "--clear=config.entrypoint"]
    args += ["--config.user", config.user, "--config.workingdir", config.workdir]
    for key, value in config.env.items():
        value = value.replace("$PATH", BASE_PATH).replace("${PATH}", BASE_PATH)
        args += ["--config.env", f"{key}={value}"]
    for part in config.cmd:
        args += ["--config.cmd", part]
    for port in config.exposed:
        args += ["--config.exposedports", port]
    return [*args, "--os", "linux", "--architecture", "amd64", "--author", "kaosgen"]


def build_images(wheel: Path, wheelhouse: Path, out: Path) -> BuiltImages:
    """Both targets in one OCI layout at `out` (replaced if present)."""
    seconds: dict[str, float] = {}
    start = time.monotonic()
    base = base_rootfs()
    seconds["debian root filesystem (mmdebstrap, cached)"] = time.monotonic() - start

    shutil.rmtree(out, ignore_errors=True)
    scratch = out.parent / f"{out.name}.work"
    shutil.rmtree(scratch, ignore_errors=True)
    rootfs = scratch / "rootfs"
    rootfs.mkdir(parents=True)
    start = time.monotonic()
    complete_wheelhouse(wheelhouse, scratch)
    with tarfile.open(base) as tar:
        tar.extractall(rootfs, filter="fully_trusted", numeric_owner=True)
    build_venv(rootfs, wheel, wheelhouse, scratch)
    (rootfs / "tmp").chmod(0o1777)
    seconds["venv (uv inside the root filesystem, offline)"] = time.monotonic() - start

    start = time.monotonic()
    venv = scratch / "venv"
    (rootfs / VENV.lstrip("/")).rename(venv)
    rootfs_bytes = _tree_bytes(rootfs) + _tree_bytes(venv)
    image = f"{out}:kaos"
    run(["umoci", "init", "--layout", str(out)])
    run(["umoci", "new", "--image", image])
    run(["umoci", "insert", "--image", image, str(rootfs), "/"], timeout=900)
    run(["umoci", "insert", "--image", image, str(venv), VENV], timeout=900)
    for target in TARGETS:
        run(["umoci", "config", "--image", image, "--tag", target, *umoci_config_args(target)])
    run(["umoci", "rm", "--image", image])
    run(["umoci", "gc", "--layout", str(out)])
    seconds["OCI layout (umoci: two layers, two configs)"] = time.monotonic() - start
    shutil.rmtree(scratch, ignore_errors=True)
    return BuiltImages(out, rootfs_bytes, layer_bytes(out, "agent"), seconds)


def _blob(layout: Path, digest: str) -> Path:
    algorithm, _, hexdigest = digest.partition(":")
    return layout / "blobs" / algorithm / hexdigest


def manifest(layout: Path, tag: str) -> dict:
    index = json.loads((layout / "index.json").read_text())
    for entry in index["manifests"]:
        if entry.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return json.loads(_blob(layout, entry["digest"]).read_text())
    raise KeyError(tag)


def config(layout: Path, tag: str) -> dict:
    return json.loads(_blob(layout, manifest(layout, tag)["config"]["digest"]).read_text())


def layer_bytes(layout: Path, tag: str) -> int:
    return sum(layer["size"] for layer in manifest(layout, tag)["layers"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheel", type=Path, help="kaosgen's wheel (uv build)")
    parser.add_argument("--wheelhouse", type=Path, help="its dependencies")
    parser.add_argument("--out", type=Path, help="OCI layout to write")
    parser.add_argument(
        "--warm-cache",
        action="store_true",
        help="only download what later builds need (Debian packages, image-only wheels)",
    )
    args = parser.parse_args(argv)
    if missing := missing_tools():
        parser.error("missing: " + ", ".join(missing))
    if args.warm_cache:
        print(f"root filesystem: {base_rootfs()}")
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            complete_wheelhouse(Path(tmp), Path(tmp), offline=False)
        return
    if not (args.wheel and args.wheelhouse and args.out):
        parser.error("--wheel, --wheelhouse and --out are needed to build")
    built = build_images(args.wheel.resolve(), args.wheelhouse.resolve(), args.out.resolve())
    for step, took in built.seconds.items():
        print(f"{step}: {took:.1f} s")
    print(f"OCI layout {built.layout}: tags {', '.join(TARGETS)}")


if __name__ == "__main__":
    main()
