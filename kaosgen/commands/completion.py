"""`kaosgen completion`: shell completion scripts for bash, zsh and fish."""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")
#: The environment variable click's completion protocol uses for the `kaosgen` program.
COMPLETE_VAR = "_KAOSGEN_COMPLETE"


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    \b
    bash:  echo 'eval "$(kaosgen completion bash)"' >> ~/.bashrc
    zsh:   echo 'eval "$(kaosgen completion zsh)"' >> ~/.zshrc   (after compinit)
    fish:  kaosgen completion fish > ~/.config/fish/completions/kaosgen.fish

    Completes commands, options, choices, file paths and the environments of the
    kaosgen.yaml next to the inputs (--env).
    """
    from click.shell_completion import get_completion_class

    root = click.get_current_context().find_root()
    completer = get_completion_class(shell)
    assert completer is not None  # bash, zsh and fish are built into click
    click.echo(completer(root.command, {}, "kaosgen", COMPLETE_VAR).source())
