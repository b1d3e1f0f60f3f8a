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
        disk) or output the terminal's encoding cannot carry is one line and exit 2, never a
        traceback; Ctrl-C exits 130, as a shell reports a command SIGINT ended."""
        import errno

        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            ctx.exit(130)
        except UnicodeEncodeError as exc:
            click.echo(
                f"error: cannot write {exc.object[exc.start : exc.end]!r} in this terminal's "
                f"encoding ({exc.encoding}): use a UTF-8 locale or PYTHONIOENCODING=utf-8",
                err=True,
            )
            ctx.exit(2)
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
    """The `kaosgen` executable (and `python -m kaosgen`).

    A command that built a large project (`keep_until_exit`) ends the process without
    tearing its objects down: freeing millions of objects one by one costs about 8% of a
    1,000-agent render. Only when no other thread runs (a writer that a second Ctrl-C
    interrupted finishes its file, as at a normal exit); `atexit` handlers still run (a
    library's temporary files) and stdout and stderr are flushed. Other commands, and
    in-process callers (tests and click's CliRunner call `main`), exit as usual."""
    import sys

    from kaosgen.commands import common

    common._KEPT = []
    try:
        main(prog_name="kaosgen")
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    except OSError as exc:  # `--help` or `--version` into a full disk or a closed pipe
        _say(f"error: cannot write: {exc.strerror or exc}")
        _exit_now(2)
    threading = sys.modules.get("threading")
    if common._KEPT and (threading is None or threading.active_count() == 1):
        _exit_now(code)
    sys.exit(code)


def _say(message: str) -> None:
    import sys

    try:
        if sys.stderr is not None:
            print(message, file=sys.stderr)
    except (OSError, ValueError):
        pass


def _exit_now(code: object) -> None:
    """End the process as `sys.exit(code)` would, without the interpreter's clean-up."""
    import atexit
    import os
    import sys

    if code is None or isinstance(code, int):
        status = code or 0
    else:  # sys.exit("message"): printed, status 1, as Python does
        _say(str(code))
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # closed when kaosgen started (`>&-`)
            continue
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away, a full disk
            status = status or 1
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    run()
