"""Where the order of training examples is decided: the one definition.

Pass ``e`` over ``n`` examples of data seed ``s`` is the stateless permutation
keyed by ``[s, e]``: different every pass, identical in every process. A single
run reads it through :func:`~keras_seeds.seeded_dataset`; the replicas of a
``SeededModel`` draw one per replica with :func:`replica_orders`.
:func:`pass_order_numpy` and :func:`replica_orders_numpy` compute the same
indices without TensorFlow (the JAX backend's replicas use them).
"""

from __future__ import annotations

import numpy as np


def pass_order(num_samples: int, pass_seed, shuffle: bool = True):
    """Indices of one pass over ``num_samples`` examples: a stateless
    permutation keyed by ``pass_seed = [data seed, pass index]`` (identity
    when ``shuffle`` is false). The one definition of data order.

    Example:

    >>> sorted(pass_order(5, [7, 0]).numpy().tolist())
    [0, 1, 2, 3, 4]
    >>> bool((pass_order(50, [7, 0]) != pass_order(50, [7, 1])).numpy().any())
    True
    """
    import tensorflow as tf

    indices = tf.range(num_samples, dtype=tf.int64)
    if shuffle:
        indices = tf.random.experimental.stateless_shuffle(indices, seed=pass_seed)
    return indices


def replica_orders(num_samples, data_seeds, pass_index, shuffle: bool = True):
    """The data order of one pass for K seed replicas at once, shape ``(K, n)``.

    Row k is ``pass_order(num_samples, [data_seeds[k], pass_index])``: replica
    k sees its batches in the order :func:`seeded_dataset` gives a single run
    with that data seed, on the same pass.

    Args:
        num_samples: examples per pass (an int or a scalar tensor).
        data_seeds: one data seed per replica.
        pass_index: the pass (epoch) number, an int or an int64 scalar tensor.
        shuffle: ``False`` gives every replica the given order.

    Example:

    >>> orders = replica_orders(6, [1, 2], 0).numpy()
    >>> orders.shape, sorted(orders[0]) == list(range(6)), bool((orders[0] != orders[1]).any())
    ((2, 6), True, True)
    >>> bool((orders[1] == pass_order(6, [2, 0]).numpy()).all())
    True
    """
    import tensorflow as tf

    pass_index = tf.cast(pass_index, tf.int64)
    seeds = tf.stack([tf.constant(list(data_seeds), tf.int64),
                      tf.fill([len(data_seeds)], pass_index)], axis=1)
    # One shuffle per replica, each the same op as a single run's, in one
    # loop node (a Python loop would put K shuffles in the traced graph).
    return tf.map_fn(lambda seed: pass_order(num_samples, seed, shuffle), seeds,
                     fn_output_signature=tf.int64)


# -------------------------------------------------- the same order in NumPy
# TensorFlow's StatelessShuffle, step by step, for processes without
# TensorFlow (the JAX backend): the seed is scrambled into a Philox-4x32-10 key
# and counter as ``tf.random.experimental.stateless_shuffle`` does, and the
# indices are shuffled by the same Fisher-Yates pass, which swaps element i
# with element ``i + u_i % (n - i)`` for the i-th 32-bit Philox output ``u_i``.
# ``tests/data_order`` checks it against TensorFlow bit for bit.
_PHILOX_M = (np.uint64(0xD2511F53), np.uint64(0xCD9E8D57))
_PHILOX_W = (np.uint32(0x9E3779B9), np.uint32(0xBB67AE85))
_SCRAMBLE_KEY = (np.uint32(0x3EC8F720), np.uint32(0x02461E29))


def _philox(counters: np.ndarray, key) -> np.ndarray:
    """Philox-4x32-10 of each row of ``counters`` (``(m, 4)`` uint32) under
    ``key`` (two uint32, or two ``(m,)`` uint32 arrays): ``(m, 4)`` uint32."""
    low = np.uint64(0xFFFFFFFF)
    c = [counters[:, i].astype(np.uint32) for i in range(4)]
    k0, k1 = np.asarray(key[0], np.uint32), np.asarray(key[1], np.uint32)
    for round_ in range(10):
        if round_:
            k0, k1 = k0 + _PHILOX_W[0], k1 + _PHILOX_W[1]
        p0 = _PHILOX_M[0] * c[0].astype(np.uint64)
        p1 = _PHILOX_M[1] * c[2].astype(np.uint64)
        hi0, lo0 = (p0 >> np.uint64(32)).astype(np.uint32), (p0 & low).astype(np.uint32)
        hi1, lo1 = (p1 >> np.uint64(32)).astype(np.uint32), (p1 & low).astype(np.uint32)
        c = [hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0]
    return np.stack(c, axis=1)


def _words(value: int) -> tuple[int, int]:
    value &= (1 << 64) - 1
    return value & 0xFFFFFFFF, value >> 32


def pass_order_numpy(num_samples: int, pass_seed, shuffle: bool = True) -> np.ndarray:
    """:func:`pass_order` computed with NumPy alone: the same int64 indices.

    Example:

    >>> pass_order_numpy(10, [7, 0]).tolist() == pass_order(10, [7, 0]).numpy().tolist()
    True
    """
    return replica_orders_numpy(num_samples, [pass_seed[0]], pass_seed[1], shuffle)[0]


def replica_orders_numpy(num_samples: int, data_seeds, pass_index: int,
                         shuffle: bool = True) -> np.ndarray:
    """:func:`replica_orders` computed with NumPy alone: ``(K, n)`` int64, the
    same indices. The Fisher-Yates pass runs once for all K rows (one vectorized
    swap per position), so its cost grows with n, hardly with K.

    Example:

    >>> orders = replica_orders_numpy(6, [1, 2], 0)
    >>> bool((orders == replica_orders(6, [1, 2], 0).numpy()).all())
    True
    """
    replicas = len(data_seeds)
    indices = np.tile(np.arange(num_samples, dtype=np.int64), (replicas, 1))
    if not shuffle or num_samples <= 1:
        return indices
    draws = num_samples - 1
    blocks = -(-draws // 4)
    with np.errstate(over="ignore"):
        mix = _philox(np.array([[*_words(int(seed)), *_words(int(pass_index))]
                                for seed in data_seeds], np.uint32), _SCRAMBLE_KEY)
        # Replica k's b-th block has counter (0, mix_k[2:]) + b and key mix_k[:2].
        counters = np.zeros((replicas, blocks, 4), np.uint32)
        counters[:, :, 0] = np.arange(blocks, dtype=np.uint32)
        counters[:, :, 2], counters[:, :, 3] = mix[:, 2:3], mix[:, 3:4]
        keys = (np.repeat(mix[:, 0], blocks), np.repeat(mix[:, 1], blocks))
        samples = _philox(counters.reshape(-1, 4), keys).reshape(replicas, -1)[:, :draws]
    samples = samples.astype(np.int64)
    positions = np.arange(draws)
    targets = positions + samples % (num_samples - positions)
    rows = np.arange(replicas)
    for i in range(draws):
        j = targets[:, i]
        swapped = indices[rows, j]
        indices[rows, j] = indices[:, i]
        indices[:, i] = swapped
    return indices
