"""The `kaosgen` command line.

Start-up must stay fast (a pre-commit hook runs it on every commit), so this module
imports only click; each command imports what it needs when it runs.
"""

from __future__ import annotations

import sys
from typing import Any

import click

FORMATS = click.Choice(["text", "json", "github"])
EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2


def _report(compilation: Any, fmt: str, *, quiet: bool = False) -> None:
    from kaosgen.diagnostics import format_diagnostics

    diags = compilation.diagnostics.sorted()
    if quiet:
        diags = [d for d in diags if d.severity.value == "error"]
    if not diags and fmt != "json":
        return
    stream = sys.stdout if fmt in ("json", "github") else sys.stderr
    color = fmt == "text" and stream.isatty()
    click.echo(format_diagnostics(diags, fmt, compilation.sources, color=color), file=stream)


def _os_error(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def _project_option(fn: Any) -> Any:
    return click.option(
        "--project",
        "project_file",
        type=click.Path(dir_okay=False),
        help="kaosgen.yaml to use (default: found next to the inputs).",
    )(fn)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="kaosgen")
def main() -> None:
    """Compile KAOS Agent, ModelAPI and MCPServer resources into plain Kubernetes manifests.

    kaosgen renders kustomize bases and per-environment overlays that Flux, Argo CD or
    `kubectl apply -k` deploy: no operator in the cluster.
    """


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_project_option
@click.option(
    "--format", "fmt", type=FORMATS, default="text", show_default=True, help="Diagnostics format."
)
@click.option("-q", "--quiet", is_flag=True, help="Only errors; no warnings.")
def validate(paths: tuple[str, ...], project_file: str | None, fmt: str, quiet: bool) -> None:
    """Check KAOS resources: YAML, schema, references, models, delegation.

    Exit code 1 when any error is found, 0 otherwise.
    """
    from kaosgen.pipeline import compile_project
    from kaosgen.project import group_inputs

    _one_shot()
    compilations = [
        compile_project(group, project_file=project_file, render=False)
        for group in group_inputs(list(paths), project_file)
    ]
    _report(_merged(compilations), fmt, quiet=quiet)
    sys.exit(EXIT_OK if all(c.ok for c in compilations) else EXIT_ERRORS)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False),
    help="Output directory (default: `output` in kaosgen.yaml, else ./deploy).",
)
@_project_option
@click.option(
    "--check", is_flag=True, help="Write nothing; exit 1 with a diff when the output is stale."
)
@click.option(
    "--format", "fmt", type=FORMATS, default="text", show_default=True, help="Diagnostics format."
)
@click.option("-q", "--quiet", is_flag=True, help="Only errors; no warnings or summary.")
def render(
    paths: tuple[str, ...],
    output: str | None,
    project_file: str | None,
    check: bool,
    fmt: str,
    quiet: bool,
) -> None:
    """Render kustomize bases and overlays for every environment.

    Invalid input writes nothing. Re-rendering the same input gives byte-identical files;
    files kaosgen generated earlier but no longer generates are removed.
    """
    from kaosgen.pipeline import compile_project
    from kaosgen.project import group_inputs

    _one_shot()
    groups = group_inputs(list(paths), project_file)
    if output and len(groups) > 1:
        click.echo(
            f"error: the inputs belong to {len(groups)} projects (different kaosgen.yaml files); "
            "render them one at a time, or drop -o so each goes to its own output directory",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    compilations = [compile_project(g, project_file=project_file, output=output) for g in groups]
    _report(_merged(compilations), fmt, quiet=quiet)
    if not all(c.ok and c.output_dir is not None for c in compilations):
        sys.exit(EXIT_ERRORS)
    results = [_write_output(c, check=check, quiet=quiet) for c in compilations]
    sys.exit(EXIT_OK if all(results) else EXIT_ERRORS)


def _one_shot() -> None:
    """A command runs once and exits: everything it builds lives until then, so the cyclic
    garbage collector only costs time (about 10-15% on large projects, growing with size)."""
    import gc

    gc.disable()


def _merged(compilations: list[Any]) -> Any:
    """One report for several projects: their diagnostics and sources together."""
    if len(compilations) == 1:
        return compilations[0]
    from kaosgen.pipeline import Compilation

    merged = Compilation()
    for compilation in compilations:
        merged.diagnostics.extend(compilation.diagnostics)
        merged.sources.update(compilation.sources)
    return merged


def _write_output(compilation: Any, *, check: bool, quiet: bool) -> bool:
    """Write (or with --check, compare) one project's output; False when it failed or is stale."""
    from kaosgen import writer

    out_dir = compilation.output_dir
    try:
        result, old = writer.plan_changes(out_dir, compilation.files)
    except FileExistsError as exc:
        click.echo(f"error: {exc}", err=True)
        return False
    except OSError as exc:
        click.echo(f"error: cannot read {out_dir}: {_os_error(exc)}", err=True)
        return False
    if check:
        if result.stale:
            click.echo(writer.unified_diff(out_dir, compilation.files, result, old), nl=False)
            click.echo(
                f"{out_dir}: rendered output is stale ({len(result.added)} to add, {len(result.changed)} to change, "
                f"{len(result.removed)} to remove); run `kaosgen render` and commit the result",
                err=True,
            )
            return False
        if not quiet:
            click.echo(f"{out_dir}: up to date ({result.unchanged} files)", err=True)
        return True
    try:
        writer.apply_changes(out_dir, compilation.files, result)
    except OSError as exc:
        click.echo(f"error: cannot write {out_dir}: {_os_error(exc)}", err=True)
        return False
    if not quiet:
        click.echo(
            f"{out_dir}: {len(result.added)} added, {len(result.changed)} changed, {len(result.removed)} removed, "
            f"{result.unchanged} unchanged",
            err=True,
        )
    return True


@main.command()
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write to this file instead of stdout."
)
def crds(output: str | None) -> None:
    """Print CustomResourceDefinitions for Agent, ModelAPI and MCPServer.

    For teams who also want the KAOS resources themselves stored in the cluster.
    """
    from kaosgen.crds import render_crds

    text = render_crds()
    if output:
        from pathlib import Path

        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


@main.command()
@click.option(
    "-o",
    "--output",
    "output_dir",
    type=click.Path(file_okay=False),
    default="schemas",
    show_default=True,
)
@click.option("--check", is_flag=True, help="Exit 1 when the files differ from the models.")
def schema(output_dir: str, check: bool) -> None:
    """Write the JSON Schemas of the KAOS kinds and kaosgen.yaml (for editors and CI)."""
    from pathlib import Path

    from kaosgen.jsonschemas import schema_files

    out = Path(output_dir)
    stale = []
    for name, text in schema_files().items():
        path = out / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            stale.append(name)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    if check and stale:
        click.echo(f"stale schemas in {out}: {', '.join(stale)}; run `kaosgen schema`", err=True)
        sys.exit(EXIT_ERRORS)
    click.echo(f"{out}: {len(stale)} schema file(s) {'stale' if check else 'written'}", err=True)


def _register_more() -> None:
    from kaosgen.devcli import register

    register(main)


_register_more()


if __name__ == "__main__":  # pragma: no cover
    main()
