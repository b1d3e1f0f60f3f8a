"""Turn the Python source in `MCP_TOOLS_STRING` into tool functions.

The source runs as a module of its own (`kaos_mcp_tools`, registered in `sys.modules` so
type hints written as strings still resolve). Its public top-level `def` and `async def`
functions, in source order, are the tools; imported names and `_private` helpers are not.
Every failure names the line in the source, because the user cannot see a traceback
through `kubectl describe`.
"""

from __future__ import annotations

import ast
import sys
import traceback
import types
from collections.abc import Callable
from typing import Any

from kaos_contract.env import MCP_TOOLS_STRING

from .errors import StartupError

#: The file name the source compiles under; it shows in tracebacks and error lines.
SOURCE_NAME = f"<{MCP_TOOLS_STRING}>"
MODULE_NAME = "kaos_mcp_tools"


def source_error(line: int | None, message: str) -> StartupError:
    where = f"{SOURCE_NAME}, line {line}" if line else SOURCE_NAME
    return StartupError(f"{where}: {message}")


def _line_in_source(exc: BaseException) -> int | None:
    """The deepest traceback line that belongs to the tool source."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == SOURCE_NAME]
    return frames[-1].lineno if frames else None


def _public_function_names(tree: ast.Module) -> list[str]:
    names: list[str] = []
    for node in tree.body:
        is_function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        if is_function and not node.name.startswith("_") and node.name not in names:
            names.append(node.name)
    return names


def load_tool_functions(source: str) -> list[Callable[..., Any]]:
    """Compile and run `source`; return its public top-level functions.

    Raises `StartupError` when the source does not compile, fails while running, or
    defines no public function.
    """
    try:
        tree = ast.parse(source, filename=SOURCE_NAME)
        code = compile(tree, SOURCE_NAME, "exec")
    except SyntaxError as exc:  # IndentationError and TabError are SyntaxErrors
        raise source_error(exc.lineno, f"{type(exc).__name__}: {exc.msg}") from None
    except ValueError as exc:  # e.g. null bytes in the source
        raise source_error(None, f"cannot compile: {exc}") from None

    names = _public_function_names(tree)
    if not names:
        raise source_error(None, "defines no function; write at least one top-level `def`")

    module = types.ModuleType(MODULE_NAME, "Tools from MCP_TOOLS_STRING.")
    module.__file__ = SOURCE_NAME
    sys.modules[MODULE_NAME] = module
    try:
        exec(code, module.__dict__)
    except Exception as exc:
        line = _line_in_source(exc)
        raise source_error(line, f"{type(exc).__name__}: {exc}") from None

    functions = [getattr(module, n) for n in names if callable(getattr(module, n, None))]
    if not functions:
        raise source_error(None, "defines no function; write at least one top-level `def`")
    return functions
