"""Where the order of training examples is decided: the one definition.

Pass ``e`` over ``n`` examples of data seed ``s`` is the stateless permutation
keyed by ``[s, e]``: different every pass, identical in every process. A single
run reads it through :func:`~keras_seeds.seeded_dataset`; the replicas of a
``SeededModel`` draw one per replica with :func:`replica_orders`.
"""

from __future__ import annotations


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
