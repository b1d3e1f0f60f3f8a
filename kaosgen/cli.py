"""The `kaosgen` command group.

Start-up must stay fast (a pre-commit hook runs it on every commit), so this module
imports only click; a command's module (`kaosgen/commands/<name>.py`) is imported when
that command runs, or when `--help` lists it.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from kaosgen.commands import COMMANDS


class LazyGroup(click.Group):
    """A group whose commands live in their own modules, imported on first use."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.lazy, *(name for name in super().list_commands(ctx) if name not in self.lazy)]

    def invoke(self, ctx: click.Context) -> Any:
        """An operating-system error no command handled (a file it cannot write, a full
        disk) is one line and exit 2, never a traceback."""
        import errno

        try:
            return super().invoke(ctx)
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise  # click ends quietly when the reader of stdout went away
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"error: {where}{exc.strerror or exc}", err=True)
            ctx.exit(2)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):  # pragma: no cover - a wiring mistake
            raise TypeError(f"{target} is not a click command")
        return command


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    # Looked up only when asked: reading package metadata costs start-up time.
    if not value or ctx.resilient_parsing:
        return
    from kaos_contract.version import kaosgen_version

    click.echo(f"kaosgen, version {kaosgen_version()}")
    ctx.exit()


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_version,
    help="Show the version (the package metadata's) and exit.",
)
def main() -> None:
    """Compile KAOS Agent, ModelAPI and MCPServer resources into plain Kubernetes manifests.

    kaosgen renders kustomize bases and per-environment overlays that Flux, Argo CD or
    `kubectl apply -k` deploy: no operator in the cluster.
    """


def run() -> None:
    """The `kaosgen` executable (and `python -m kaosgen`): `main`, then the process ends
    without tearing down what the command built. Freeing a large project's millions of
    objects one by one, or the interpreter's clean-up of them, only costs time (about 8%
    of a 1,000-agent render); stdout and stderr are flushed first. In-process callers
    (tests, click's CliRunner) call `main` and keep the usual exit."""
    import os
    import sys

    from kaosgen.commands import common

    common._KEPT = []
    try:
        main(prog_name="kaosgen")
        status = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            status = exc.code or 0
        else:  # sys.exit("message"): printed, status 1, as Python does
            print(exc.code, file=sys.stderr)
            status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away, a closed stream
            status = status or 1
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    run()
