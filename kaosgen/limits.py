"""What one input may make kaosgen spend, in one place.

Hostile or broken files (alias bombs, runaway nesting, a FIFO or /dev/zero behind a .yaml
name, a huge file) are refused with a diagnostic before they cost time or memory. The
figures are far above anything a real project holds: the largest upstream CRD bundles
are a few MiB, Kubernetes objects are capped at about 1.5 MiB by etcd, and schemas nest
a few dozen levels.
"""

from __future__ import annotations

#: Bytes in one input file (or on stdin). Larger files are refused unread.
MAX_FILE_BYTES = 8 * 1024 * 1024

#: Nesting of mappings and sequences in one document, counting what aliases expand to.
MAX_DEPTH = 100

#: What aliases may add to one file, in nodes plus scalar characters (so about 1 MB of
#: content): enough for anchors shared between a few workloads, not for a "billion laughs".
MAX_ALIAS_EXPANSION = 1_000_000

#: Kubernetes (JSON) integers are 64-bit; replicas, ports and most counts are 32-bit.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MAX = 2**31 - 1

#: How long a render waits for another one writing into the same output directory
#: (env KAOSGEN_LOCK_TIMEOUT, in seconds, overrides it).
LOCK_WAIT_SECONDS = 60.0


def describe_bytes(size: int) -> str:
    """`8 MiB`, `512 KiB` or `300 bytes`, for messages."""
    for unit, factor in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


#: Documents in one file. 2,000,000 empty ones (`---` lines, 8 MB) took 31 s and 1.5 GiB
#: to compose; no project holds this many objects in one file.
MAX_FILE_DOCUMENTS = 50_000

#: YAML problems (bad keys, numbers, duplicates) reported per file before the rest are
#: only counted: output stays small whatever a file holds.
MAX_FILE_DIAGNOSTICS = 100


#: How long a compilation works before a terminal shows its progress line (env
#: KAOSGEN_PROGRESS_DELAY, in seconds, overrides it).
PROGRESS_DELAY_SECONDS = 0.5


def progress_delay_seconds() -> float:
    """PROGRESS_DELAY_SECONDS, or KAOSGEN_PROGRESS_DELAY when it is a number of seconds."""
    import os

    try:
        return max(0.0, float(os.environ["KAOSGEN_PROGRESS_DELAY"]))
    except (KeyError, ValueError):
        return PROGRESS_DELAY_SECONDS


def lock_wait_seconds() -> float:
    """LOCK_WAIT_SECONDS, or KAOSGEN_LOCK_TIMEOUT when it is a number of seconds."""
    import os

    try:
        return max(0.0, float(os.environ["KAOSGEN_LOCK_TIMEOUT"]))
    except (KeyError, ValueError):
        return LOCK_WAIT_SECONDS
