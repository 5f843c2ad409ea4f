"""The seed contract: validating master seeds and deriving named sub-seeds.

A *master seed* is an int in ``[0, 2**32 - 1]``. From it, named sub-seeds are
derived with :class:`numpy.random.SeedSequence` under fixed spawn keys, so the
same master seed gives the same sub-seeds in every process, on every machine.
``SUBSEED_NAMES`` lists the sub-seeds, one per source of randomness.

Example:

>>> from keras_seeds import SUBSEED_NAMES, Seeds
>>> SUBSEED_NAMES
('init', 'data', 'noise', 'augment', 'split')
>>> seeds = Seeds(42)
>>> [seeds[name] for name in SUBSEED_NAMES[:2]]  # the same numbers everywhere
[4091952314, 233227757]
"""

from __future__ import annotations

import collections
import secrets
from typing import Any, Mapping

import numpy as np

from keras_seeds._validation import check_int

MAX_SEED = 2**32 - 1

# Stable spawn keys: never renumber these, or every recorded run changes meaning.
SUBSEED_KEYS = {"init": 1, "data": 2, "noise": 3, "augment": 4, "split": 5}
SUBSEED_NAMES = tuple(SUBSEED_KEYS)
# Replica i of a K-replica model has master seed derive_seed(seed, REPLICA_KEY, i):
# keyed by the index alone, so the first 4 of 8 replicas are the 4 of 4.
REPLICA_KEY = 6


def check_seed(value: Any, name: str = "seed") -> int:
    """Validates a seed and returns it as a plain Python ``int``.

    Accepts Python and NumPy integers in ``[0, 2**32 - 1]``. Rejects ``bool``,
    floats (NumPy floats too), strings and ``None`` with a ``TypeError``, and
    integers out of range with a ``ValueError``; both name the argument.

    Args:
        value: the candidate seed.
        name: the argument name to use in error messages.

    Returns:
        The seed as an ``int``.

    Example:

    >>> check_seed(np.int64(7))
    7
    >>> check_seed(-1, name="data")
    Traceback (most recent call last):
    ...
    ValueError: `data` must be an int in [0, 2**32 - 1]; received data=-1.
    """
    return check_int(value, name, 0, MAX_SEED, constraint="an int in [0, 2**32 - 1]")


def check_subseed_name(name: Any) -> str:
    """Returns ``name`` if it is a known sub-seed name, else raises ``ValueError``.

    Example:

    >>> check_subseed_name("data")
    'data'
    """
    if name not in SUBSEED_KEYS:
        raise ValueError(
            f"Unknown sub-seed name {name!r}; expected one of: "
            f"{', '.join(SUBSEED_NAMES)}."
        )
    return name


def derive_seed(seed: int, *keys: int) -> int:
    """Derives a 32-bit seed from ``seed`` and a path of integer ``keys``.

    Uses ``numpy.random.SeedSequence(seed, spawn_key=keys)``, so derivation is
    stable across processes, platforms and NumPy versions.

    Example:

    >>> derive_seed(42, 2) == derive_seed(42, 2)
    True
    >>> derive_seed(42, 2) != derive_seed(42, 3)
    True
    """
    seed = check_seed(seed)
    sequence = np.random.SeedSequence(seed, spawn_key=tuple(int(k) for k in keys))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def check_replicas(value: Any, name: str = "replicas") -> int:
    """Validates a replica count: an int >= 1 (``TypeError``/``ValueError``).

    Example:

    >>> check_replicas(4)
    4
    >>> check_replicas(0)
    Traceback (most recent call last):
    ...
    ValueError: `replicas` must be an int >= 1; received replicas=0.
    """
    return check_int(value, name, minimum=1)


def replica_seeds(seed: int, replicas: int) -> list[int]:
    """The master seeds of ``replicas`` seed replicas derived from ``seed``.

    Prefix-stable: the first 4 seeds of ``replicas=8`` are those of ``replicas=4``.

    Example:

    >>> replica_seeds(42, 8)[:4] == replica_seeds(42, 4)
    True
    """
    seed = check_seed(seed)
    return [derive_seed(seed, REPLICA_KEY, i) for i in range(check_replicas(replicas))]


def check_seed_list(values: Any, name: str = "seeds") -> list[int]:
    """Validates a non-empty list of distinct seeds and returns it as ints.

    Example:

    >>> check_seed_list([3, 1, 2])
    [3, 1, 2]
    >>> check_seed_list([3, 1, 3])
    Traceback (most recent call last):
    ...
    ValueError: `seeds` must not repeat a seed (one seed is one run); received seeds=[3, 1, 3], where 3 repeats.
    """
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"`{name}` must be a list of ints in [0, 2**32 - 1]; "
                        f"received {name}={values!r}.")
    seeds = [check_seed(value, f"{name}[{i}]") for i, value in enumerate(values)]
    if not seeds:
        raise ValueError(f"`{name}` must hold at least one seed; received {name}=[].")
    repeated = sorted(seed for seed, count in collections.Counter(seeds).items() if count > 1)
    if repeated:
        raise ValueError(
            f"`{name}` must not repeat a seed (one seed is one run); received "
            f"{name}={seeds}, where "
            f"{', '.join(map(str, repeated))} repeat{'s' if len(repeated) == 1 else ''}.")
    return seeds


def draw_seed() -> int:
    """Draws a fresh master seed from the operating system's entropy."""
    return secrets.randbelow(MAX_SEED + 1)


class Seeds:
    """A master seed and its named sub-seeds, any of which can be pinned.

    Each sub-seed governs one source of randomness:

    - ``init``: weight initialisation (and anything else built with the model);
    - ``data``: the order of training examples, a new order each epoch;
    - ``noise``: Dropout, GaussianNoise and any other layer ``SeedGenerator``;
    - ``augment``: random augmentation layers (RandomFlip, RandomRotation, ...);
    - ``split``: train/validation split helpers.

    Unpinned sub-seeds are derived from the master seed. Pinning one holds what
    it governs fixed while the master seed varies everything else, e.g. the same
    data order under different weight initialisations.

    Args:
        master: the master seed, an int in ``[0, 2**32 - 1]``; ``None`` draws
            one from OS entropy (``drawn`` is then ``True``).
        **pinned: sub-seeds to pin, by name (``init=``, ``data=``, ...).

    Example:

    >>> seeds = Seeds(42, data=7)
    >>> seeds.data
    7
    >>> seeds.init == Seeds(42).init
    True
    >>> seeds.init == Seeds(43, data=7).init
    False
    >>> # Pinning ``data`` leaves the other sub-seeds as the master seed derives them.
    >>> [seeds.noise, seeds.augment, seeds.split] == [Seeds(42).noise, Seeds(42).augment,
    ...                                               Seeds(42).split]
    True
    >>> config = seeds.to_config()  # what a run record stores
    >>> config["master"], config["pinned"], config["subseeds"]["data"]
    (42, {'data': 7}, 7)
    """

    def __init__(self, master: int | None = None, **pinned: int):
        self.drawn = master is None
        self.master = draw_seed() if master is None else check_seed(master, "seed")
        self.pinned = {}
        for name, value in pinned.items():
            check_subseed_name(name)
            self.pinned[name] = check_seed(value, name)

    @classmethod
    def coerce(cls, seed: "int | Seeds | None") -> "Seeds":
        """Returns ``seed`` as a :class:`Seeds` (``None`` draws a master seed).

        Example:

        >>> Seeds.coerce(5).master
        5
        """
        if isinstance(seed, Seeds):
            return seed
        return cls(seed)

    def __getitem__(self, name: str) -> int:
        check_subseed_name(name)
        if name in self.pinned:
            return self.pinned[name]
        return derive_seed(self.master, SUBSEED_KEYS[name])

    init = property(lambda self: self["init"], doc="Weight-initialisation seed.")
    data = property(lambda self: self["data"], doc="Data-order seed.")
    noise = property(lambda self: self["noise"], doc="Dropout/noise seed.")
    augment = property(lambda self: self["augment"], doc="Augmentation seed.")
    split = property(lambda self: self["split"], doc="Train/validation split seed.")

    def as_dict(self) -> dict[str, int]:
        """The sub-seeds by name.

        Example:

        >>> sorted(Seeds(1).as_dict())
        ['augment', 'data', 'init', 'noise', 'split']
        """
        return {name: self[name] for name in SUBSEED_NAMES}

    def to_config(self) -> dict[str, Any]:
        """A JSON-ready description: master seed, sub-seeds, pins, drawn flag."""
        return {
            "master": self.master,
            "drawn": self.drawn,
            "pinned": dict(self.pinned),
            "subseeds": self.as_dict(),
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Seeds":
        """Rebuilds :class:`Seeds` from :meth:`to_config` output.

        Example:

        >>> Seeds.from_config(Seeds(3, noise=1).to_config()).noise
        1
        """
        seeds = cls(config["master"], **config.get("pinned", {}))
        seeds.drawn = bool(config.get("drawn", False))
        return seeds

    def _identity(self) -> tuple:
        # What a run depends on: the master seed and every sub-seed. Pinning a
        # sub-seed to the value it would be derived as anyway changes neither.
        return (self.master,) + tuple(self[name] for name in SUBSEED_NAMES)

    def __eq__(self, other: object) -> bool:
        """Equal when the master seed and every sub-seed are equal.

        Example:

        >>> Seeds(1) == Seeds(1, data=Seeds(1).data), hash(Seeds(1)) == hash(Seeds(1, data=Seeds(1).data))
        (True, True)
        """
        return isinstance(other, Seeds) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        pins = "".join(f", {k}={v}" for k, v in sorted(self.pinned.items()))
        return f"Seeds({self.master}{pins})"
