"""The rows a seed store keeps: one :class:`SeedRun` per (configuration,
seed), its per-example results as :class:`PerExample`, and arrays as ``.npy``
bytes. Plain values: a Dask worker returns them, the store's one writer writes
them (:mod:`keras_seeds.sweeps.store`)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

STATUSES = ("done", "diverged", "discarded", "failed")
EXAMPLE_KINDS = ("correct", "loss")


def array_bytes(array) -> bytes:
    """An array as ``.npy`` bytes (float arrays as float32, as predictions are
    kept; others as they are), for :class:`SeedRun` ``outputs``.

    Example:

    >>> array_from_bytes(array_bytes([[0.25, 0.75]]))
    array([[0.25, 0.75]], dtype=float32)
    """
    array = np.asarray(array)
    if array.dtype.kind == "f":
        array = array.astype(np.float32)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def array_from_bytes(data: bytes) -> np.ndarray:
    """The array :func:`array_bytes` wrote.

    Example:

    >>> array_from_bytes(array_bytes(np.array([3, 1, 2], np.int32))).tolist()
    [3, 1, 2]
    """
    return np.load(io.BytesIO(data), allow_pickle=False)


@dataclass(frozen=True)
class PerExample:
    """One seed's result on every example of an evaluation split, kept
    compactly: ``"correct"`` as one bit per example (classification),
    ``"loss"`` as float16 (anything else).

    Example:

    >>> record = PerExample("correct", np.array([1, 0, 1, 1, 0, 0, 0, 1, 1], bool))
    >>> len(record.encode()), PerExample.decode("correct", 9, record.encode()).values.tolist()
    (2, [True, False, True, True, False, False, False, True, True])
    """

    kind: str
    values: np.ndarray

    def __post_init__(self):
        if self.kind not in EXAMPLE_KINDS:
            raise ValueError(f"`kind` must be one of {', '.join(EXAMPLE_KINDS)}; received "
                             f"kind={self.kind!r}.")

    def encode(self) -> bytes:
        if self.kind == "correct":
            return np.packbits(np.asarray(self.values, bool)).tobytes()
        return np.asarray(self.values, "<f2").tobytes()

    @classmethod
    def decode(cls, kind: str, count: int, data: bytes) -> "PerExample":
        if kind == "correct":
            bits = np.unpackbits(np.frombuffer(data, np.uint8), count=count)
            return cls(kind, bits.astype(bool))
        return cls(kind, np.frombuffer(data, "<f2").astype(np.float32))


@dataclass
class SeedRun:
    """The result of one seed of one configuration."""

    seed: int
    status: str
    score: float | None = None
    sub_seeds: dict[str, int] | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    # Validation predictions (.npy, float32): what ensembles are scored from.
    outputs: bytes | None = None
    error: str | None = None
    seconds: float | None = None
    manifest: dict[str, Any] | None = None
    # The trained model's variables (an .npz), kept apart: runs() does not read them.
    weights: bytes | None = field(default=None, repr=False)
    # {split: PerExample}, kept apart too (SeedStore.examples reads them).
    examples: dict = field(default_factory=dict, repr=False)
    # Test predictions (.npy, float32), kept apart (SeedStore.predictions reads them).
    test_outputs: bytes | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"`status` must be one of {', '.join(STATUSES)}; received "
                             f"status={self.status!r}.")
