"""Resources for a Hosted (Ollama) ModelAPI, from what its model tag says.

An Ollama tag usually names the parameter count (`smollm2:135m`, `llama3.1:8b`,
`llama3.1:70b`, `mixtral:8x7b`) and sometimes the quantisation (`...-q8_0`, `...-fp16`);
without one, Ollama's library serves Q4_K_M. The weights take
`parameters x bits per weight / 8` bytes; the server needs them in memory plus room for
the KV cache and compute buffers. The estimate:

    weights  = parameters x bits / 8
    memory   = weights x 1.2 + 0.5 GiB, rounded up to a whole GiB
    disk     = weights x 1.1 + 1 GiB, rounded up to a whole GiB (a PVC's default size)

Requests and limits never go below the project's `resources.ollama` (which stays right for
small models); memory requests equal the estimate so the scheduler places a 70b model only
where 49 GiB are free. CPU grows in steps with the parameter count. A tag without a size
(`mistral`, `phi3:mini`) keeps the project's defaults, and the check pass warns.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from kaosgen.models.common import ResourceRequirements

GIB = 1024**3
#: The model volume of a tag that names no size (and a PVC's default size).
DEFAULT_MODEL_DISK = "20Gi"
#: Beside the model, the pod's disk holds /tmp (256Mi), Ollama's home and the logs.
DISK_HEADROOM_GIB = 1

#: Bits per weight of GGUF quantisations (llama.cpp's figures, rounded up), by family.
_BITS = {
    "q2": 2.7,
    "iq2": 2.4,
    "q3": 3.9,
    "iq3": 3.5,
    "q4": 4.9,
    "iq4": 4.5,
    "q5": 5.7,
    "q6": 6.6,
    "q8": 8.5,
    "f16": 16.0,
    "fp16": 16.0,
    "bf16": 16.0,
    "f32": 32.0,
    "fp32": 32.0,
}
#: Ollama's library default when the tag names none (Q4_K_M).
DEFAULT_BITS = 4.9
_QUANT = re.compile(r"^(iq[1-4]|q[2-8]|b?fp?16|fp?32)(_[0-9a-z_]*)?$")
_SIZE = re.compile(r"^(?:(\d+)x)?(\d+(?:\.\d+)?)([mb])$")
#: (fewer than this many billion parameters, cpu request, cpu limit)
_CPU_STEPS = ((3, "500m", "2"), (15, "1", "4"), (40, "2", "8"), (math.inf, "4", "16"))


@dataclass(frozen=True)
class ModelSize:
    parameters: float  # count
    bits: float  # per weight
    quantisation: str | None  # as the tag says it, None: Ollama's default

    @property
    def weights_bytes(self) -> float:
        return self.parameters * self.bits / 8

    @property
    def memory_gib(self) -> int:
        return math.ceil(self.weights_bytes * 1.2 / GIB + 0.5)

    @property
    def disk_gib(self) -> int:
        return math.ceil(self.weights_bytes * 1.1 / GIB + 1)

    @property
    def billions(self) -> float:
        return self.parameters / 1e9


def _tokens(model: str) -> tuple[list[str], list[str]]:
    """(tag tokens, name tokens) of `[registry/]name[:tag]`, lower case.

    `llama3.1:8b-instruct-q8_0` -> (["8b", "instruct", "q8_0"], ["llama3.1"]);
    `hf.co/org/Llama-3.2-1B-Instruct-GGUF:Q4_K_M` -> (["q4_k_m"], [..., "1b", ...]).
    """
    ref = model.removeprefix("ollama/").lower()
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    name, tag = (ref[:colon], ref[colon + 1 :]) if colon > slash else (ref, "")
    tag_tokens = [t for t in tag.split("-") if t]
    name_tokens = [t for t in re.split(r"[-_]", name.rsplit("/", 1)[-1]) if t]
    return tag_tokens, name_tokens


def parse(model: str) -> ModelSize | None:
    """The size the tag states, or None when it states none."""
    tag_tokens, name_tokens = _tokens(model)
    parameters = None
    for token in [*tag_tokens, *name_tokens]:
        m = _SIZE.match(token)
        if m:
            experts = int(m.group(1) or 1)
            scale = 1e6 if m.group(3) == "m" else 1e9
            parameters = experts * float(m.group(2)) * scale
            break
    if parameters is None:
        return None
    quant = next((t for t in [*tag_tokens, *name_tokens] if _QUANT.match(t)), None)
    bits = DEFAULT_BITS
    if quant:
        family = quant.split("_")[0]
        bits = _BITS.get(family) or _BITS.get(family.rstrip("0123456789"), DEFAULT_BITS)
    return ModelSize(parameters, bits, quant)


# --- quantities ---------------------------------------------------------------------------

_SUFFIX = {
    "": 1,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "m": 1e-3,
}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([a-zA-Z]*)$")


def quantity(value: str | int | float) -> float | None:
    """A Kubernetes quantity as a number (cores, bytes), None when unreadable."""
    m = _QUANTITY.match(str(value).strip())
    if not m or m.group(2) not in _SUFFIX:
        return None
    return float(m.group(1)) * _SUFFIX[m.group(2)]


def _at_least(current: str | int | float | None, wanted: str) -> str | int | float:
    have = quantity(current) if current is not None else None
    need = quantity(wanted)
    if have is not None and need is not None and have >= need:
        return current  # type: ignore[return-value]
    return wanted


def hosted_resources(size: ModelSize, floor: ResourceRequirements) -> ResourceRequirements:
    """Requests and limits for `size`, never below `floor` (the project's defaults)."""
    memory = f"{size.memory_gib}Gi"
    _, cpu_request, cpu_limit = next(s for s in _CPU_STEPS if size.billions < s[0])
    requests = dict(floor.requests or {})
    limits = dict(floor.limits or {})
    requests["memory"] = _at_least(requests.get("memory"), memory)
    limits["memory"] = _at_least(limits.get("memory"), memory)
    requests["cpu"] = _at_least(requests.get("cpu"), cpu_request)
    limits["cpu"] = _at_least(limits.get("cpu"), cpu_limit)
    return ResourceRequirements(requests=requests, limits=limits, claims=floor.claims)


def model_disk(model: str) -> str:
    """The size of the model's volume: from the tag, else DEFAULT_MODEL_DISK."""
    size = parse(model)
    return f"{size.disk_gib}Gi" if size else DEFAULT_MODEL_DISK


def with_model_disk(resources: ResourceRequirements, disk: str) -> ResourceRequirements:
    """`resources` with an ephemeral-storage limit that holds a model volume of `disk`
    (an emptyDir counts against the pod's limit): raised to disk + headroom, never
    lowered, and only where the resources bound ephemeral storage at all."""
    limits = dict(resources.limits or {})
    current = limits.get("ephemeral-storage")
    needed = quantity(disk)
    if current is None or needed is None:
        return resources
    wanted = f"{math.ceil(needed / GIB) + DISK_HEADROOM_GIB}Gi"
    limits["ephemeral-storage"] = _at_least(current, wanted)
    return resources.model_copy(update={"limits": limits})
