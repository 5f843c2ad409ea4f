"""A :class:`~keras_seeds.SeedStudy` as JSON: the dict
:meth:`~keras_seeds.SeedStudy.to_dict` gives and
:meth:`~keras_seeds.SeedStudy.from_dict` reads, and the file
:meth:`~keras_seeds.SeedStudy.save` writes and :meth:`~keras_seeds.SeedStudy.load`
reads (``format`` ``FORMAT``).

NaN is written as ``None`` (JSON has none); per-example correctness as one
bit per seed and example, other per-example values as their float64 bytes,
both in base64: every value reads back to the same bits. Seeds whose NaN
scores were dropped are written with the study and dropped again, silently,
when it is read.
"""

from __future__ import annotations

import base64
import json
import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from keras_seeds._files import read_json, write_file_atomically
from keras_seeds.statistics.functions import SeedStudyWarning

FORMAT = "keras-seeds-study/1"


def study_to_dict(study) -> dict[str, Any]:
    """``study`` as a JSON-ready dict (NaN as ``None``)."""
    return {
        "format": FORMAT, "metric": study.metric, "name": study.name,
        "higher_is_better": study.higher_is_better,
        "seeds": study.seeds.tolist(), "scores": _json_floats(study.scores),
        "dropped_seeds": study.dropped_seeds.tolist(),
        "discarded_seeds": study.discarded_seeds.tolist(),
        "failed_seeds": study.failed_seeds.tolist(),
        "test_scores": None if study.test_scores is None else _json_floats(study.test_scores),
        "curves": {k: _json_floats(v) for k, v in study.curves.items()},
        "ensemble_score": (None if study.ensemble_score is None
                           else _json_floats(study.ensemble_score)),
        "diversity": (None if study.diversity is None else
                      {k: _json_floats(v) for k, v in study.diversity.items()}),
        "correct": _packed(study.correct), "test_correct": _packed(study.test_correct),
        "per_example": _packed_values(study.per_example),
        "test_per_example": _packed_values(study.test_per_example),
    }


def study_from_dict(data: Mapping, cls):
    """The study of class ``cls`` (:class:`~keras_seeds.SeedStudy`) that
    :func:`study_to_dict` described."""
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise ValueError(f"not a keras-seeds study: expected a dict with "
                         f"format={FORMAT!r}; received "
                         f"{type(data).__name__} with format="
                         f"{data.get('format') if isinstance(data, Mapping) else None!r}.")
    missing = [key for key in ("seeds", "scores") if key not in data]
    if missing:
        raise ValueError(f"not a complete keras-seeds study: missing {missing}.")
    seeds = list(data["seeds"]) + list(data.get("dropped_seeds") or [])
    scores = _from_json(data["scores"]) + [None] * len(data.get("dropped_seeds") or [])
    # Dropped seeds come back as NaN scores and are dropped again, silently.
    kept = len(data["seeds"])
    test = data.get("test_scores")
    curves = {k: [row + [None] * (len(seeds) - kept) for row in _from_json(v)]
              for k, v in (data.get("curves") or {}).items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeedStudyWarning)
        study = cls(scores, seeds, metric=data.get("metric"),
                    higher_is_better=data.get("higher_is_better", True),
                    name=data.get("name"),
                    test_scores=None if test is None else
                    _from_json(test) + [None] * (len(seeds) - kept),
                    curves=curves, ensemble_score=data.get("ensemble_score"),
                    diversity=data.get("diversity"),
                    correct=_unpacked(data.get("correct"), len(seeds) - kept),
                    test_correct=_unpacked(data.get("test_correct"), len(seeds) - kept),
                    per_example=_unpacked_values(data.get("per_example"), len(seeds) - kept),
                    test_per_example=_unpacked_values(data.get("test_per_example"),
                                                      len(seeds) - kept))
    study.discarded_seeds = np.array(data.get("discarded_seeds") or [], dtype=np.int64)
    study.failed_seeds = np.array(data.get("failed_seeds") or [], dtype=np.int64)
    return study


def save_study(study, path) -> None:
    """Writes ``study.to_dict()`` as JSON to ``path``, atomically."""
    text = json.dumps(study.to_dict(), indent=1, allow_nan=False) + "\n"
    write_file_atomically(path, lambda handle: handle.write(text))


def load_study(path, cls):
    """The study of class ``cls`` that :func:`save_study` wrote to ``path``
    (``cls.from_dict`` of the file), errors naming the file."""
    data = read_json(path, "study")
    try:
        return cls.from_dict(data)
    except ValueError as error:
        raise ValueError(f"'{path}': {error}") from None


def _packed(correct) -> dict | None:
    """Per-example correctness for JSON: one bit per seed and example."""
    if correct is None:
        return None
    return {"shape": list(correct.shape),
            "bits": base64.b64encode(np.packbits(correct, axis=None).tobytes()).decode()}


def _packed_values(values) -> dict | None:
    """Per-example values that are not correctness, for JSON: their float64
    bytes in base64 (every value reads back to the same bits)."""
    if values is None or values.dtype == bool:
        return None
    return {"shape": list(values.shape),
            "float64": base64.b64encode(values.astype("<f8").tobytes()).decode()}


def _unpacked_values(data, dropped: int) -> np.ndarray | None:
    """:func:`_packed_values` read back, with ``dropped`` rows of zeros."""
    if data is None:
        return None
    shape = tuple(data["shape"])
    values = np.frombuffer(base64.b64decode(data["float64"]), dtype="<f8").reshape(shape)
    return np.concatenate([values, np.zeros((dropped, shape[1]))]).astype(np.float64)


def _unpacked(data, dropped: int) -> np.ndarray | None:
    """:func:`_packed` read back, with ``dropped`` rows of zeros for the seeds
    whose NaN scores were dropped (they are dropped again)."""
    if data is None:
        return None
    shape = tuple(data["shape"])
    bits = np.frombuffer(base64.b64decode(data["bits"]), dtype=np.uint8)
    correct = np.unpackbits(bits, count=int(np.prod(shape))).reshape(shape).astype(bool)
    return np.concatenate([correct, np.zeros((dropped, shape[1]), bool)])


def _json_floats(values):
    """Plain floats with NaN as ``None`` (JSON has no NaN), nesting kept."""
    array = np.asarray(values, dtype=float)
    if array.ndim == 0:
        return float(array) if np.isfinite(array) else None
    return [_json_floats(row) for row in array]


def _from_json(values) -> list:
    return [[math.nan if v is None else v for v in row] if isinstance(row, list) else row
            for row in values]
