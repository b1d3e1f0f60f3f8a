"""The one exception that stops start-up with a one-line message and exit code 2."""

from __future__ import annotations


class StartupError(Exception):
    """A configuration or tool-source problem the user must fix; printed without traceback."""

    exit_code = 2
