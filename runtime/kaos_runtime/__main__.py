"""`python -m kaos_runtime` / `kaos-agent`: the agent image's CMD.

Order matters: the offline variables are set before anything imports litellm or fastmcp
(no cost-map download, no update check: clusters are often air-gapped), and the settings
are validated before the heavy imports, so a misconfigured pod fails in a fraction of a
second with one line naming the variable (exit status 2), not a traceback.
"""

from __future__ import annotations

import logging
import os
import sys

from kaos_contract.env import OFFLINE_ENV

from .extra import require_runtime_extra

PROG = "kaos-agent"
#: What the agent imports at start-up, from the `runtime` extra.
NEEDS = ("starlette", "uvicorn", "aiohttp", "fastmcp", "prometheus_client", "opentelemetry")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Libraries that log every HTTP request at INFO.
_CHATTY = ("httpx", "httpx2", "httpcore", "mcp", "fastmcp", "LiteLLM", "litellm", "uvicorn.access")


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stdout, force=True)
    if level != "DEBUG":
        for name in _CHATTY:
            logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))


#: Cyclic GC thresholds: young collections every 20,000 net allocations instead of 700, the
#: older generations after 50 and 100 of the previous one instead of 10 and 10. A chat
#: completion allocates thousands of short-lived objects (coroutines, dicts, frames) that
#: reference counting frees; with the defaults the collector ran several times per request
#: and took about a tenth of the runtime's CPU under load (bench/runtime.py). RSS stays
#: bounded (the bench's memory run checks it).
GC_THRESHOLDS = (20_000, 50, 100)


def tune_gc() -> None:
    """Collect less often, and never scan what start-up loaded (modules, app, settings).

    `gc.freeze()` moves every object alive now to a generation the collector skips, so the
    older-generation collections only look at what requests created.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def main() -> None:
    require_runtime_extra(PROG, NEEDS)
    os.environ.update(OFFLINE_ENV)
    from .settings import SettingsError, load_settings

    try:
        settings = load_settings(os.environ)
    except SettingsError as exc:
        print(f"{PROG}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None

    configure_logging(settings.log_level)

    import uvicorn

    from .app import create_app
    from .server import uvicorn_config

    app = create_app(settings)
    tune_gc()
    uvicorn.Server(uvicorn_config(app, settings)).run()


if __name__ == "__main__":
    main()
