"""Where the order of training examples is decided: a seeded input pipeline.

Keras' own ``fit(x, y, shuffle=True)`` on arrays draws its permutation inside a
``tf.data`` function traced before training starts; once a global seed is set,
every epoch gets the same batch order. :func:`seeded_dataset` owns the
shuffling instead: the order of pass ``e`` over the data is a stateless
permutation keyed by ``(data seed, e)``, so it changes every epoch and is the
same in every process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from keras_seeds._validation import check_int
from keras_seeds.data_order.order import pass_order
from keras_seeds.seeding.contract import Seeds, check_seed


@dataclass
class PipelineInfo:
    """What the callback and the manifest need to know about a seeded pipeline."""

    seed: int
    epoch: Any  # tf.Variable: index of the next pass over the data
    num_samples: int | None
    batch_size: int
    shuffle: bool
    source: str
    # What the pipeline reads: the arrays (x, y, sample_weight) or the tf.data
    # source, so that records can fingerprint it (data order never does).
    contents: Any = None

    def set_epoch(self, epoch: int) -> None:
        """Makes the next pass over the data use the order of ``epoch``."""
        self.epoch.assign(int(epoch))


def pipeline_info(dataset) -> PipelineInfo | None:
    """The :class:`PipelineInfo` of a dataset made by :func:`seeded_dataset`."""
    return getattr(dataset, "_keras_seeds_pipeline", None)


def _data_seed(seed) -> int:
    if seed is None:
        from keras_seeds.seeding.global_rngs import active_seeds, seed_everything

        if active_seeds() is None:
            seed_everything(None)
        return active_seeds().data
    if isinstance(seed, Seeds):
        return seed.data
    return Seeds(check_seed(seed)).data


def pack_arrays(x, y, sample_weight) -> tuple:
    """``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``: what a pipeline yields.

    Example:

    >>> len(pack_arrays([1], None, None)), len(pack_arrays([1], [2], None))
    (1, 2)
    """
    if y is None and sample_weight is None:
        return (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def _num_samples(data) -> int:
    import tensorflow as tf

    leaves = tf.nest.flatten(data)
    sizes = []
    for leaf in leaves:
        shape = np.shape(leaf)
        if not shape:
            raise ValueError("seeded_dataset: every array needs a batch dimension; "
                             "received a scalar.")
        sizes.append(shape[0])
    if len(set(sizes)) != 1:
        names = ["x", "y", "sample_weight"]
        per_part = [
            f"{names[i]}: {sorted({np.shape(leaf)[0] for leaf in tf.nest.flatten(part)})}"
            for i, part in enumerate(data)
        ]
        raise ValueError(
            "seeded_dataset: x, y and sample_weight must have the same number of "
            f"samples (first dimension); received {', '.join(per_part)}."
        )
    return sizes[0]


def seeded_dataset(
    x,
    y=None,
    sample_weight=None,
    *,
    batch_size: int = 32,
    seed: "int | Seeds | None" = None,
    shuffle: bool = True,
    drop_remainder: bool = False,
    buffer_size: int | None = None,
    initial_epoch: int = 0,
):
    """A ``tf.data.Dataset`` for ``fit`` that reshuffles, seeded, every epoch.

    Pass ``e`` over the data (epoch ``e`` in ``fit``) is ordered by a stateless
    permutation keyed by ``(data sub-seed, e)``: different every epoch,
    identical in every process. Under :class:`~keras_seeds.SeedCallback` the
    pass index follows ``fit``'s epoch number, so ``fit(initial_epoch=5)``
    uses epoch 5's order.

    Args:
        x: input arrays (a NumPy array, or a list/tuple/dict of them), or a
            ``tf.data.Dataset`` of single (unbatched) examples.
        y: target arrays (not with a dataset ``x``).
        sample_weight: per-sample weights (not with a dataset ``x``).
        batch_size: examples per batch.
        seed: master seed or :class:`~keras_seeds.Seeds`; its ``data`` sub-seed
            is used. ``None`` uses the seeds of the last
            :func:`~keras_seeds.seed_everything` (drawing one if there is none).
        shuffle: ``False`` keeps the given order (for validation data).
        drop_remainder: drop the last, smaller batch.
        buffer_size: for a ``tf.data`` ``x``: the shuffle buffer (default: the
            whole dataset when its size is known, else 10000).
        initial_epoch: the pass index of the first pass when no callback sets it.

    Returns:
        A batched ``tf.data.Dataset`` of ``x``, ``(x, y)`` or
        ``(x, y, sample_weight)``.

    Example:

    >>> import numpy as np, keras_seeds as ks
    >>> ds = ks.seeded_dataset(np.arange(6), batch_size=6, seed=42)
    >>> first = next(iter(ds)).numpy()
    >>> second = next(iter(ds)).numpy()
    >>> sorted(first) == list(range(6)), bool((first != second).any())
    (True, True)
    """
    import tensorflow as tf

    batch_size = check_int(batch_size, "batch_size", minimum=1)
    data_seed = _data_seed(seed)
    initial_epoch = check_int(initial_epoch, "initial_epoch", minimum=0)
    epoch = tf.Variable(int(initial_epoch), dtype=tf.int64, trainable=False,
                        name="keras_seeds_epoch")

    def next_pass_seed(_):
        pass_index = epoch.assign_add(1) - 1
        return tf.stack([tf.constant(data_seed, tf.int64), pass_index])

    if isinstance(x, tf.data.Dataset):
        if y is not None or sample_weight is not None:
            raise ValueError("seeded_dataset: with a tf.data.Dataset `x`, pass "
                             "targets inside the dataset, not as `y`/`sample_weight`.")
        dataset, num_samples = _from_dataset(x, next_pass_seed, shuffle, buffer_size)
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
        source = "tf.data"
    else:
        data = tf.nest.map_structure(np.asarray, pack_arrays(x, y, sample_weight))
        num_samples = _num_samples(data)
        dataset = _from_arrays(data, num_samples, next_pass_seed, shuffle,
                               batch_size, drop_remainder)
        source = "arrays"
    if num_samples is not None:
        batches = num_samples // batch_size if drop_remainder else -(-num_samples // batch_size)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    dataset._keras_seeds_pipeline = PipelineInfo(
        seed=data_seed, epoch=epoch, num_samples=num_samples, batch_size=batch_size,
        shuffle=bool(shuffle), source=source,
        contents=x if source == "tf.data" else pack_arrays(x, y, sample_weight),
    )
    return dataset


def _from_arrays(data, num_samples, next_pass_seed, shuffle, batch_size, drop_remainder):
    import tensorflow as tf

    # A lone x is yielded bare, like Keras does, not as a 1-tuple.
    tensors = tf.nest.map_structure(tf.constant, data if len(data) > 1 else data[0])

    def order(pass_seed):
        return pass_order(num_samples, pass_seed, shuffle)

    def gather(batch_indices):
        return tf.nest.map_structure(lambda t: tf.gather(t, batch_indices), tensors)

    dataset = (tf.data.Dataset.range(1).map(_traced(next_pass_seed)).map(_traced(order))
               .flat_map(_traced(lambda indices: _index_batches(indices, batch_size,
                                                                drop_remainder)))
               .map(_traced(gather)))
    return dataset


def _index_batches(indices, batch_size: int, drop_remainder: bool = False):
    """Consecutive slices of ``batch_size`` along the last axis of ``indices``,
    one dataset element per batch (not per example: that costs a lot per step)."""
    import tensorflow as tf

    num_samples = tf.shape(indices, out_type=tf.int64)[-1]
    end = (num_samples // batch_size) * batch_size if drop_remainder else num_samples
    return tf.data.Dataset.range(0, end, batch_size).map(
        _traced(lambda start: indices[..., start:start + batch_size]))


def _traced(fn):
    """``fn`` for ``Dataset.map`` without AutoGraph: it has no tensor-dependent
    Python control flow, and converting it costs about a second per pipeline."""
    import tensorflow as tf

    return tf.autograph.experimental.do_not_convert(fn)


def _from_dataset(source, next_pass_seed, shuffle, buffer_size):
    import tensorflow as tf

    cardinality = int(source.cardinality())
    num_samples = cardinality if cardinality >= 0 else None
    if buffer_size is None:
        buffer_size = num_samples or 10000
    buffer_size = check_int(buffer_size, "buffer_size", minimum=1)

    def one_pass(pass_seed):
        if not shuffle:
            return source
        # Fold the pass seed into one op seed; tf.data mixes in TF's global seed,
        # which keras-seeds sets from the same `data` sub-seed.
        op_seed = (pass_seed[0] * 1_000_003 + pass_seed[1]) % (2**31 - 1)
        return source.shuffle(buffer_size, seed=op_seed, reshuffle_each_iteration=False)

    return (tf.data.Dataset.range(1).map(_traced(next_pass_seed)).flat_map(_traced(one_pass)),
            num_samples)
