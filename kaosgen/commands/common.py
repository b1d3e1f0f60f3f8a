"""What several commands share: exit codes, options, diagnostics output, environment choice."""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import click

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
FORMATS = click.Choice(["text", "json", "github"])


def paths_exist(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A path that does not exist is a usage error (exit 2), before any work is done."""
    values = value if isinstance(value, tuple) else (value,) if value else ()
    missing = [p for p in values if p != "-" and not os.path.lexists(p)]
    if missing:
        raise click.BadParameter(
            f"{', '.join(repr(p) for p in missing)}: no such file or directory", ctx, param
        )
    return value


paths_argument = click.argument("paths", nargs=-1, type=click.Path(), callback=paths_exist)
project_option = click.option(
    "--project",
    "project_file",
    type=click.Path(),
    callback=paths_exist,
    help="kaosgen.yaml to use (default: found next to the inputs).",
)
color_option = click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Colour the output; auto: when it goes to a terminal and NO_COLOR is not set.",
)
strict_option = click.option(
    "--strict", is_flag=True, help="Warnings fail the run (exit 1) like errors; notes never do."
)
verbose_option = click.option(
    "-v", "--verbose", is_flag=True, help="Say on stderr what was read (and done)."
)


def format_option(help: str = "Diagnostics format.") -> Any:
    return click.option(
        "--format", "fmt", type=FORMATS, default="text", show_default=True, help=help
    )


def use_color(choice: str, stream: Any) -> bool:
    """--color: always/never, or auto: a terminal, NO_COLOR unset or empty, TERM not dumb."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def report(
    compilation: Any,
    fmt: str = "text",
    *,
    quiet: bool = False,
    color: str = "auto",
    strict: bool = False,
) -> None:
    """Print a compilation's diagnostics: text on stderr, json/github on stdout.

    `quiet` keeps only errors (and, with `strict`, the warnings that fail the run).
    """
    from kaosgen.diagnostics import Severity, format_diagnostics

    diags = compilation.diagnostics.sorted()
    if quiet:
        failing = (Severity.ERROR, Severity.WARNING) if strict else (Severity.ERROR,)
        diags = [d for d in diags if d.severity in failing]
    if not diags and fmt != "json":
        return
    stream = sys.stdout if fmt in ("json", "github") else sys.stderr
    colored = fmt == "text" and use_color(color, stream)
    text = format_diagnostics(diags, fmt, compilation.sources, color=colored)
    # click strips escape codes on a non-terminal unless told the colour is wanted.
    click.echo(text, file=stream, color=colored)


def failed(compilations: list[Any], *, strict: bool = False) -> bool:
    """Whether the run fails: errors, or with --strict warnings (said on stderr)."""
    if not all(c.ok for c in compilations):
        return True
    warnings = sum(len(c.diagnostics.warnings) for c in compilations)
    if strict and warnings:
        click.echo(f"error: --strict: {warnings} warning(s) fail the run", err=True)
        return True
    return False


def describe_inputs(compilation: Any, *, output: bool = True) -> None:
    """-v: the project file and the inputs a compilation read (stderr)."""
    loaded = compilation.project
    project = _display(loaded.path) if loaded and loaded.path else "none (defaults)"
    files = [f for f in compilation.sources if loaded is None or f != _display(loaded.path)]
    graph = compilation.graph
    resources = len(graph.workloads()) if graph else 0
    others = len(graph.passthrough) if graph else 0
    click.echo(f"project: {project}", err=True)
    click.echo(
        f"read: {len(files)} file(s): {resources} KAOS resource(s), {others} other document(s)",
        err=True,
    )
    if output and compilation.output_dir is not None:
        click.echo(f"output: {compilation.output_dir.as_posix()}", err=True)


def _display(path: Any) -> str | None:
    if path is None:
        return None
    from kaosgen.source import display_path

    return display_path(path)


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


#: What commands built, left for the process's exit to drop (see `cli.run`); None when
#: kaosgen runs in-process (tests, CliRunner): then nothing is kept.
_KEPT: list[Any] | None = None


def keep_until_exit(value: Any) -> Any:
    """Hold `value` until the process exits, when the executable (`cli.run`) skips
    freeing it object by object: a large project's objects take about 0.2 s to free."""
    if _KEPT is not None:
        _KEPT.append(value)
    return value


def compile_inputs(
    paths: tuple[str, ...],
    project_file: str | None,
    *,
    render: bool,
    output: str | None = None,
    progress: Any = None,
    hydrate_all: bool = False,
) -> Any:
    """Compile PATHS (default: the current directory) as one project."""
    from kaosgen.pipeline import compile_project

    return keep_until_exit(
        compile_project(
            list(paths) or ["."],
            project_file=project_file,
            output=output,
            render=render,
            progress=progress,
            hydrate_all=hydrate_all,
        )
    )


def progress_reporter(*, quiet: bool = False) -> Any:
    """A progress line on stderr for long work, only on a terminal that can erase a line."""
    from kaosgen.limits import progress_delay_seconds
    from kaosgen.progress import Progress

    terminal = sys.stderr is not None and sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
    return Progress(sys.stderr, enabled=not quiet and terminal, delay=progress_delay_seconds())


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


def complete_env(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion for --env: the environments of the project the inputs belong to."""
    from click.shell_completion import CompletionItem

    from kaosgen.diagnostics import Diagnostics
    from kaosgen.project import load_project

    try:
        # While completing, positional PATHS may still sit in ctx.args.
        given = ctx.params.get("paths") or tuple(ctx.args)
        paths = [p for p in given if p != "-" and os.path.exists(p)] or ["."]
        loaded = load_project(paths, ctx.params.get("project_file"), Diagnostics())
    except Exception:  # completion must never print a traceback into the shell
        return []
    names = sorted(loaded.project.environments) if loaded else []
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]


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
