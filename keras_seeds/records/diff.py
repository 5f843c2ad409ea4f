"""Why two runs may differ: the fields that differ between two manifests, and
the likeliest causes in plain words (``keras-seeds diff``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# Sections in the order their differences are reported: causes that always
# change results first, then causes that may.
_CAUSES = (
    ("seed", "The seed differs"),
    ("data", "The training data differs"),
    ("fit", "A fit() argument differs"),
    ("compile", "A compile() argument differs"),
    ("optimizer", "An optimizer setting differs"),
    ("model", "The model differs"),
    ("replicas.fusing", ("The replicas are fused differently (the strategies add floats "
                         "in different orders)")),
    ("replicas", "The replicas differ"),
    ("control", "What keras-seeds controlled differs"),
    ("versions", "Library versions differ"),
    ("determinism", "Determinism settings differ"),
    ("hardware", "The hardware differs"),
    ("environment", "Environment variables differ"),
)
# Not causes: bookkeeping, results, and PYTHONHASHSEED (always the master seed).
# The probe's timings of strategy="fastest" are measurements: its choice is the
# cause (replicas.fusing.strategy).
_IGNORED = ("format", "created", "finished", "status", "result", "manifest_path",
            "hardware.gpu_details", "environment.PYTHONHASHSEED",
            "replicas.fusing.probe_seconds_per_step", "replicas.fusing.probe_compile_seconds")


@dataclass(frozen=True)
class Difference:
    """One field that differs between two manifests."""

    field: str
    a: Any
    b: Any


def _flatten(value, prefix="") -> dict[str, Any]:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        value = dict(enumerate(value))
    if isinstance(value, dict) and value:
        flat = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def diff_manifests(a: dict, b: dict) -> list[Difference]:
    """Fields whose values differ between manifests ``a`` and ``b`` (inputs
    only: results and timestamps are left out).

    Example:

    >>> diff_manifests({"fit": {"epochs": 3}}, {"fit": {"epochs": 5}})
    [Difference(field='fit.epochs', a=3, b=5)]
    """
    flat_a, flat_b = _flatten(a), _flatten(b)
    differences = []
    for field in sorted(set(flat_a) | set(flat_b)):
        if any(field == i or field.startswith(i + ".") for i in _IGNORED):
            continue
        if flat_a.get(field) != flat_b.get(field):
            differences.append(Difference(field, flat_a.get(field), flat_b.get(field)))
    return differences


def _cause_of(field: str) -> str | None:
    """The section of ``_CAUSES`` a field belongs to: the first that is the
    field or one of its parents."""
    for section, _ in _CAUSES:
        if field == section or field.startswith(section + "."):
            return section
    return None


def _short(value) -> str:
    text = json.dumps(value, default=repr) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:16] + "..." + text[-8:]


def explain_diff(a: dict, b: dict) -> list[str]:
    """Plain-words reasons why runs ``a`` and ``b`` may differ, likeliest first.

    Example:

    >>> explain_diff({"fit": {"epochs": 3}}, {"fit": {"epochs": 5}})
    ['A fit() argument differs: fit.epochs is 3 in A and 5 in B.']
    """
    differences = diff_manifests(a, b)
    reasons = []
    for section, headline in _CAUSES:
        fields = [d for d in differences if _cause_of(d.field) == section]
        if not fields:
            continue
        details = "; ".join(f"{d.field} is {_short(d.a)} in A and {_short(d.b)} in B"
                            for d in fields[:4])
        more = f" (and {len(fields) - 4} more)" if len(fields) > 4 else ""
        reasons.append(f"{headline}: {details}{more}.")
    for name, manifest in (("A", a), ("B", b)):
        if manifest.get("determinism", {}).get("op_determinism") is False:
            reasons.append(f"Run {name} ran without op determinism: even with identical "
                           f"settings its results can change from run to run.")
        if (manifest.get("replicas") or {}).get("fusing", {}).get("repeatable") is False:
            reasons.append(f"Run {name} chose how to fuse its replicas by timing them "
                           "(strategy='fastest'): another process may choose the other "
                           "strategy; pass the recorded strategy to repeat it.")
    other = [d for d in differences if _cause_of(d.field) is None]
    if other:
        reasons.append("Other fields differ: " + ", ".join(d.field for d in other) + ".")
    result_a = a.get("result", {}).get("weights_sha256")
    result_b = b.get("result", {}).get("weights_sha256")
    if not reasons:
        if result_a and result_b and result_a != result_b:
            reasons.append("Every recorded input matches, yet the final weights differ: "
                           "something uncontrolled changed the run (see `keras-seeds "
                           "audit`: thread pools, GPU kernels, unseeded custom code).")
        elif result_a and result_a == result_b:
            reasons.append("The runs match: same inputs and bit-identical final weights.")
        else:
            reasons.append("Every recorded input matches; the runs should be identical.")
    return reasons
