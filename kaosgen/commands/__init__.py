"""One module per `kaosgen` command.

Each module imports only click at start-up and the rest when its command runs, so the
pre-commit hooks and `kaosgen --help` start fast. `kaosgen.cli` finds commands through
`COMMANDS` and never needs to import a module it does not run.
"""

from __future__ import annotations

# command name -> "module:attribute", in the order `kaosgen --help` lists them.
COMMANDS: dict[str, str] = {
    "validate": "kaosgen.commands.validate:validate",
    "render": "kaosgen.commands.render:render",
    "build": "kaosgen.commands.build:build",
    "diff": "kaosgen.commands.diff:diff",
    "up": "kaosgen.commands.up:up",
    "graph": "kaosgen.commands.graph:graph",
    "init": "kaosgen.commands.init:init",
    "explain": "kaosgen.commands.explain:explain",
    "status": "kaosgen.commands.status:status",
    "images": "kaosgen.commands.images:images",
    "crds": "kaosgen.commands.crds:crds",
    "schema": "kaosgen.commands.schema:schema",
    "hook": "kaosgen.commands.hook:hook",
    "completion": "kaosgen.commands.completion:completion",
}
