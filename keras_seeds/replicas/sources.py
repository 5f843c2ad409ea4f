"""What ``SeededModel.fit`` trains on besides arrays, and in which order.

Keras' ``fit`` takes arrays, ``tf.data`` pipelines, ``keras.utils.PyDataset``\\ s and
generators. What order each replica sees depends on what the source allows:

- **arrays** (and a finite ``tf.data.Dataset``, read into memory once): every
  replica its own order, example by example (:mod:`keras_seeds.replicas.feed`);
- **a random-access source** (a ``PyDataset`` with a length): every replica its
  own order of the *batches*, read as the replicas need them (K batches a step,
  nothing else held): replica k's pass e visits batch indices in the order
  ``pass_order(n, [data seed k, e])``; when the last batch is smaller than the
  first (the usual ``ceil(samples / batch_size)`` batches), the other ``n - 1``
  are ordered that way and the last comes last, for every replica, so that the
  replicas' batches of a step have one size;
- **a stream** (a generator or iterator, an infinite ``tf.data.Dataset``, a
  ``PyDataset`` without a length, or any ``tf.data.Dataset`` or ``PyDataset``
  with ``data_order="shared"``): read once per step, the batch shared by every
  replica. The replicas then share one data order, and the records say so.

``fit(data_order=...)``: ``None`` (the source decides, as above),
``"per_replica"`` (refused for a stream: it has no order to give each
replica), ``"shared"`` (streams a ``tf.data.Dataset`` or ``PyDataset``).
"""

from __future__ import annotations

import keras
import numpy as np

from keras_seeds.data_order import order as data_order
from keras_seeds.data_order.seeded_dataset import pack_arrays
from keras_seeds.replicas.feed import is_dataset

DATA_ORDERS = (None, "per_replica", "shared")
SHARED_ORDER = ("shared: one read per step, the same batch for every replica (a "
                "stream has no order to give each replica); the data sub-seeds are unused")


def source_kind(x, data_order_arg) -> str:
    """``"arrays"``, ``"indexed"`` (a random-access source) or ``"stream"``: how
    ``fit`` reads ``x`` under ``fit(data_order=data_order_arg)``."""
    if data_order_arg not in DATA_ORDERS:
        raise ValueError("`data_order` must be None, 'per_replica' or 'shared'; received "
                         f"data_order={data_order_arg!r}.")
    if isinstance(x, keras.utils.PyDataset):
        if data_order_arg == "shared":
            return "stream"
        if _length(x) is None:
            _refuse_per_replica(data_order_arg, "a PyDataset without a length (num_batches "
                                "is None)")
            return "stream"
        return "indexed"
    if is_dataset(x):
        import tensorflow as tf

        if data_order_arg == "shared":
            return "stream"
        if int(x.cardinality()) == tf.data.INFINITE_CARDINALITY:
            _refuse_per_replica(data_order_arg, "an infinite tf.data.Dataset")
            return "stream"
        return "arrays"
    if hasattr(x, "__next__"):
        _refuse_per_replica(data_order_arg, f"a {type(x).__name__} (an iterator)")
        return "stream"
    if data_order_arg == "shared":
        raise ValueError(
            "`data_order`: arrays give every replica its own order; data_order='shared' "
            "is for a tf.data.Dataset or a PyDataset you want streamed. For one order for "
            "all replicas on arrays, pass shuffle=False (the given order); received "
            f"x of type {type(x).__name__}.")
    return "arrays"


def _endless(x) -> str | None:
    """What makes ``x`` endless (``None`` when it ends)."""
    if isinstance(x, keras.utils.PyDataset) and _length(x) is None:
        return "a PyDataset without a length"
    if is_dataset(x):
        import tensorflow as tf

        if int(x.cardinality()) == tf.data.INFINITE_CARDINALITY:
            return "an infinite tf.data.Dataset"
    return None


def _refuse_per_replica(requested, what: str) -> None:
    if requested == "per_replica":
        raise ValueError(
            f"`data_order`: x is {what}: a stream, read once per step and shared by every "
            "replica, so it has no order to give each replica. For per-replica orders pass "
            "arrays, a finite tf.data.Dataset (read into memory) or a keras.utils.PyDataset "
            "with a length (read batch by batch); or pass data_order='shared'; received "
            "data_order='per_replica'.")


def _length(source) -> int | None:
    """A PyDataset's number of batches (``None``: endless)."""
    try:
        return source.num_batches
    except NotImplementedError:  # neither num_batches nor __len__: Keras reads it endlessly
        return None


def check_source_arguments(kind: str, y, sample_weight, validation_split, class_weight,
                           replica_rows) -> None:
    """What ``fit`` cannot apply to a source it does not hold as arrays."""
    if kind == "arrays":
        return
    given = {"y": y is not None, "sample_weight": sample_weight is not None,
             "validation_split": bool(validation_split), "class_weight": bool(class_weight),
             "replica_rows": replica_rows is not None}
    values = {"y": y, "sample_weight": sample_weight, "validation_split": validation_split,
              "class_weight": class_weight, "replica_rows": replica_rows}
    for name in (name for name, set_ in given.items() if set_):
        inside = ("pass them inside the source, as Keras does" if name in (
            "y", "sample_weight") else "pass arrays for it")
        shown = f"an array of shape {np.shape(values[name])}" if name in (
            "y", "sample_weight", "replica_rows") else repr(values[name])
        raise ValueError(
            f"`{name}`: with x a {'stream' if kind == 'stream' else 'PyDataset'}, "
            f"SeededModel.fit cannot apply {name}; {inside}; received {name}={shown}.")


def first_batch(x) -> tuple:
    """``(x, (x, y, sample_weight) of its first batch as arrays)``: a generator
    is read once and given back with that batch in front, so nothing is lost."""
    if isinstance(x, keras.utils.PyDataset):
        element = x[0]
    elif is_dataset(x):
        element = next(iter(x.take(1)))
    else:
        try:
            element = next(x)
        except StopIteration:
            raise ValueError("`x`: the generator is empty.") from None
        x = _prepended(element, x)
    batch = keras.utils.unpack_x_y_sample_weight(element)
    return x, keras.tree.map_structure(
        lambda a: None if a is None else np.asarray(a), batch)


def _prepended(first, rest):
    yield first
    yield from rest


def _repeat(tensor, replicas: int):
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.repeat(tf.expand_dims(tensor, 0), replicas, axis=0)
    return keras.ops.repeat(keras.ops.expand_dims(tensor, 0), replicas, axis=0)


class _Pass:
    """The pass (epoch) a feed draws next; set by ``ReplicaLogs`` at each epoch,
    as on a variable."""

    def __init__(self, value: int = 0):
        self.value = int(value)

    def assign(self, value) -> None:
        self.value = int(value)

    def numpy(self):
        return np.int64(self.value)


class SharedFeed:
    """A stream: Keras' ``fit`` reads it, and each step's batch is every
    replica's (``(K, batch, ...)`` by repetition inside the step)."""

    shared = True

    def __init__(self, replicas: int, x, steps_per_epoch):
        self.replicas = replicas
        self.source = x
        self.pass_index = _Pass()
        if steps_per_epoch is None and _endless(x):
            raise ValueError(
                f"`steps_per_epoch`: x is {_endless(x)}, so this dataset is infinite and an "
                "epoch would never end; pass steps_per_epoch (the batches of one epoch), as "
                "Keras asks of an endless source; received steps_per_epoch=None.")

    def fit_input(self, steps_per_epoch) -> dict:
        return {"x": self.source}

    def step_data(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        return keras.tree.map_structure(lambda t: _repeat(t, self.replicas),
                                        pack_arrays(x, y, sample_weight))

    def next_from(self, iterator):
        """JAX: the replicas' batch of the next step."""
        return self.step_data(next(iterator))

    def first_batch(self, replicas: int):
        raise ValueError("`strategy`: 'fastest' times the strategies on the first "
                         "batch of arrays; a streamed fit has none to time. Pass "
                         "strategy='auto', 'vectorized' or 'unrolled'.")


class ReplicaBatches(keras.utils.PyDataset):
    """A random-access source read in every replica's own batch order: item
    ``t`` of pass e is the replicas' step t, ``(batch, K, ...)`` leaves (batch
    first, as Keras' adapters expect), replica k's being ``source[order_k[t]]``."""

    def __init__(self, source, data_seeds, shuffle: bool):
        super().__init__()
        self.source = source
        self.data_seeds = list(data_seeds)
        self.shuffle = shuffle
        self.length = _length(source)
        if not self.length:
            raise ValueError("`x`: the PyDataset has no batches (len(x) == 0).")
        self.pass_index = _Pass()
        self._orders = None
        self._last_is_short = None

    @property
    def num_batches(self):
        return self.length

    def orders(self, pass_index: int) -> np.ndarray:
        """``(K, n)``: the batch indices of each replica's pass ``pass_index``."""
        if self._orders is None or self._orders[0] != pass_index:
            self._check_length()
            if self._last_is_short is None:
                first, last = (keras.tree.flatten(self.source[i])[0] for i in (0, self.length - 1))
                self._last_is_short = len(last) < len(first)
            permuted = self.length - 1 if self._last_is_short else self.length
            orders = data_order.replica_orders_numpy(permuted, self.data_seeds, pass_index,
                                                     self.shuffle)
            if self._last_is_short:
                last = np.full((len(self.data_seeds), 1), self.length - 1, orders.dtype)
                orders = np.concatenate([orders, last], axis=1)
            self._orders = (pass_index, orders)
        return self._orders[1]

    def __getitem__(self, step):
        order = self.orders(self.pass_index.value)
        batches = [pack_arrays(*keras.utils.unpack_x_y_sample_weight(
            self.source[int(index)])) for index in order[:, step]]
        sizes = {len(keras.tree.flatten(batch)[0]) for batch in batches}
        if len(sizes) > 1:
            raise ValueError(
                "`x`: the PyDataset's batches differ in size beyond its last one "
                f"(step {step} reads batches {order[:, step].tolist()} of sizes "
                f"{sorted(sizes)}); replicas in their own orders need batches of one size "
                "(the last may be smaller). Give every batch the same size, or pass "
                "data_order='shared'.")
        return keras.tree.map_structure(lambda *leaves: np.stack(leaves, axis=1), *batches)

    def on_epoch_begin(self):
        begin = getattr(self.source, "on_epoch_begin", None)  # Keras 3.13's has none
        if begin is not None:
            begin()

    def on_epoch_end(self):
        self._check_length()
        self.source.on_epoch_end()

    def _check_length(self) -> None:
        length = _length(self.source)
        if length != self.length:
            raise ValueError(
                f"`x`: the PyDataset's length changed between epochs, from {self.length} to "
                f"{length} batches; each replica's order is a permutation of the batches, so "
                "the length must stay. Keep len(x) fixed during fit (reshuffle or re-sample "
                "inside __getitem__ instead).")


class IndexedFeed:
    """A random-access source: Keras reads :class:`ReplicaBatches`, whose items
    are already the replicas' batches."""

    shared = False

    def __init__(self, x, data_seeds, shuffle: bool):
        self.batches = ReplicaBatches(x, data_seeds, shuffle)
        self.pass_index = self.batches.pass_index
        self.replicas = len(self.batches.data_seeds)

    def fit_input(self, steps_per_epoch) -> dict:
        return {"x": self.batches}

    def step_data(self, data):
        # ReplicaBatches' items are batch-major (Keras' adapters take the first
        # dimension for the batch's, the one that may change): the step's are
        # replica-major.
        data = pack_arrays(*keras.utils.unpack_x_y_sample_weight(data))
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            return tf.nest.map_structure(lambda t: _replica_major(tf, t), data)
        return keras.tree.map_structure(lambda t: keras.ops.swapaxes(t, 0, 1), data)

    def next_from(self, iterator):
        return self.step_data(next(iterator))

    def first_batch(self, replicas: int):
        return keras.tree.map_structure(lambda a: np.swapaxes(a, 0, 1)[:replicas],
                                        self.batches[0])


def _replica_major(tf, tensor):
    rank = len(tensor.shape)
    return tf.transpose(tensor, [1, 0] + list(range(2, rank)))
