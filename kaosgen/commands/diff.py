"""`kaosgen diff`: what a render changes, object by object."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from kaosgen.commands.common import (
    EXIT_ERRORS,
    EXIT_OK,
    EXIT_USAGE,
    color_option,
    compile_inputs,
    describe_inputs,
    fail,
    paths_argument,
    project_option,
    report,
    use_color,
    verbose_option,
)


@click.command()
@paths_argument
@project_option
@click.option(
    "--against",
    metavar="GITREF|DIR",
    help="Compare with the render of the inputs at a git ref (`HEAD`, `origin/main`), or with "
    "a rendered directory. Default: the output directory on disk (what `render` would change).",
)
@color_option
@click.option("--no-color", "no_color", is_flag=True, hidden=True, help="Same as --color=never.")
@click.option(
    "--stat", "stat_only", is_flag=True, help="Only list the objects, without their diffs."
)
@verbose_option
def diff(
    paths: tuple[str, ...],
    project_file: str | None,
    against: str | None,
    color: str,
    no_color: bool,
    stat_only: bool,
    verbose: bool,
) -> None:
    """Show what a render changes, object by object; exit 1 when anything changes.

    Each Kubernetes object is compared by where it applies (base, overlays/<env>,
    clusters/<env>), kind, namespace and name, with a unified diff of its YAML. PATHS
    default to the current directory. Exit 0: no changes; 1: changes; 2: the inputs do
    not render, or a usage error.
    """
    from kaosgen import objdiff

    color = "never" if no_color else color
    compilation = compile_inputs(paths, project_file, render=True)
    if verbose:
        describe_inputs(compilation)
    report(compilation, "text", quiet=True, color=color)
    if not compilation.ok or compilation.output_dir is None:
        sys.exit(EXIT_ERRORS)
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
        colored = use_color(color, sys.stdout)
        click.echo(objdiff.format_diff(result, color=colored), nl=False, color=colored)
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
            fail(f"--against {ref!r} is neither a directory nor a git revision", EXIT_USAGE)
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
                report(old, "text", quiet=True)
                sys.exit(EXIT_USAGE)
            return old.files
    except objdiff.GitError as exc:
        fail(str(exc), EXIT_USAGE)
    return {}
