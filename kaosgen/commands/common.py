"""What several commands share: exit codes, options, diagnostics output, environment choice."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
FORMATS = click.Choice(["text", "json", "github"])

paths_argument = click.argument("paths", nargs=-1, type=click.Path())
project_option = click.option(
    "--project",
    "project_file",
    type=click.Path(dir_okay=False),
    help="kaosgen.yaml to use (default: found next to the inputs).",
)


def format_option(help: str = "Diagnostics format.") -> Any:
    return click.option(
        "--format", "fmt", type=FORMATS, default="text", show_default=True, help=help
    )


def report(compilation: Any, fmt: str = "text", *, quiet: bool = False) -> None:
    """Print a compilation's diagnostics: text on stderr, json/github on stdout."""
    from kaosgen.diagnostics import format_diagnostics

    diags = compilation.diagnostics.sorted()
    if quiet:
        diags = [d for d in diags if d.severity.value == "error"]
    if not diags and fmt != "json":
        return
    stream = sys.stdout if fmt in ("json", "github") else sys.stderr
    color = fmt == "text" and stream.isatty()
    click.echo(format_diagnostics(diags, fmt, compilation.sources, color=color), file=stream)


def os_error(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def fail(message: str, code: int = EXIT_ERRORS) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def one_shot() -> None:
    """A command runs once and exits: everything it builds lives until then, so the cyclic
    garbage collector only costs time (about 10-15% on large projects, growing with size)."""
    import gc

    gc.disable()


def compile_inputs(
    paths: tuple[str, ...], project_file: str | None, *, render: bool, output: str | None = None
) -> Any:
    """Compile PATHS (default: the current directory) as one project."""
    from kaosgen.pipeline import compile_project

    return compile_project(
        list(paths) or ["."], project_file=project_file, output=output, render=render
    )


def merged(compilations: list[Any]) -> Any:
    """One report for several projects: their diagnostics and sources together."""
    if len(compilations) == 1:
        return compilations[0]
    from kaosgen.pipeline import Compilation

    result = Compilation()
    for compilation in compilations:
        result.diagnostics.extend(compilation.diagnostics)
        result.sources.update(compilation.sources)
    return result


def pick_env(compilation: Any, env: str | None, *, required: bool) -> str | None:
    """The environment a command works on: the one named, or the only one there is."""
    envs = sorted(compilation.project.project.environments)
    if env is None:
        if len(envs) == 1:
            return envs[0]
        if required:
            fail(f"choose an environment with --env ({', '.join(envs)})", EXIT_USAGE)
        return None
    if env not in envs:
        fail(f"unknown environment {env!r}; kaosgen.yaml defines {', '.join(envs)}", EXIT_USAGE)
    return env
