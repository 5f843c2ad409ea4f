"""The data feed of the replicas: ``SeededModel.fit``'s inputs as arrays, and
each replica's batches drawn from them inside the train step.

Each replica draws its own order of the examples every epoch, so this feed holds
the whole training set: NumPy arrays and tensors are taken as they are (string
features as object or bytes arrays too, uint8 images as uint8), a finite
``tf.data.Dataset`` is read once (its elements are batches, as Keras reads
them), and ``class_weight`` and ``validation_split`` are applied the way Keras
applies them. What ``fit`` reads otherwise (a ``PyDataset`` per replica, a
stream shared): :mod:`keras_seeds.replicas.sources`.
"""

from __future__ import annotations

import math
import sys

import keras
import numpy as np

from keras_seeds.data_order import order as data_order


def is_dataset(x) -> bool:
    tf = sys.modules.get("tensorflow")  # no dataset can exist before TensorFlow is imported
    return tf is not None and isinstance(x, tf.data.Dataset)


def peek(x, y, sample_weight):
    """A small sample of ``(x, y, sample_weight)`` to build shapes from."""
    if is_dataset(x):
        element = next(iter(x.take(1)))
        return keras.utils.unpack_x_y_sample_weight(element)
    return keras.tree.map_structure(
        lambda a: None if a is None else as_tensor(np.asarray(a)[:2]), (x, y, sample_weight))


def as_tensor(array):
    """A NumPy array as a tensor; arrays of strings (object or unicode dtype)
    become string tensors (Keras' own converter refuses those dtypes)."""
    if keras.backend.backend() != "tensorflow":
        return keras.ops.convert_to_tensor(array)
    import tensorflow as tf

    return tf.constant(array.astype(bytes) if array.dtype.kind in "OU" else array)


def strings_as_tensors(data):
    """``data`` (a structure of arrays, or a dataset) with its string arrays as
    string tensors, for Keras' evaluate/predict, which refuse NumPy strings."""
    if data is None or is_dataset(data) or keras.backend.backend() != "tensorflow":
        return data
    return keras.tree.map_structure(
        lambda a: as_tensor(a) if isinstance(a, np.ndarray) and a.dtype.kind in "OU" else a,
        data)


def training_data(x, y, sample_weight, batch_size):
    """``(x, y, sample_weight)`` as NumPy structures with one batch dimension, and the
    batch size. A ``tf.data.Dataset`` is read once (its elements are batches)."""
    from keras_seeds._validation import check_int

    if x is None:
        raise ValueError("`x`: SeededModel.fit needs training data; received x=None.")
    if is_dataset(x):
        if y is not None or sample_weight is not None:
            raise ValueError("`y`/`sample_weight`: with a tf.data.Dataset `x`, pass targets "
                             "and weights inside the dataset.")
        x, y, sample_weight, first_batch = _read_dataset(x)
        batch_size = batch_size or first_batch
    batch_size = check_int(32 if batch_size is None else batch_size, "batch_size", minimum=1)
    parts = {"x": x, "y": y, "sample_weight": sample_weight}
    arrays = {}
    for name, value in parts.items():
        if value is not None:
            # tf.data would stack a list of inputs into one tensor: make it a tuple.
            arrays[name] = keras.tree.lists_to_tuples(keras.tree.map_structure(np.asarray, value))
    sizes = {}
    for name, value in arrays.items():
        for leaf in keras.tree.flatten(value):
            if leaf.ndim == 0:
                raise ValueError(f"`{name}`: every array needs a batch dimension; received "
                                 "a scalar.")
            sizes.setdefault(name, set()).add(leaf.shape[0])
    for name, found in sizes.items():
        if len(found) > 1:
            raise ValueError(f"`{name}`: its arrays have different numbers of samples "
                             f"(first dimension): {sorted(found)}.")
    n = next(iter(sizes["x"]))
    for name in ("y", "sample_weight"):
        if name in sizes and next(iter(sizes[name])) != n:
            raise ValueError(
                f"`{name}` has {next(iter(sizes[name]))} samples but `x` has {n} (first "
                "dimension); they must match.")
    if n == 0:
        raise ValueError("`x`: SeededModel.fit needs at least one sample; received 0.")
    return (arrays["x"], arrays.get("y"), arrays.get("sample_weight")), batch_size


def check_rows(rows, replicas: int, samples: int) -> np.ndarray:
    """``fit(replica_rows=...)`` as an int array ``(replicas, m)`` of row indices."""
    array = np.asarray(rows)
    if (array.ndim != 2 or array.shape[0] != replicas or array.shape[1] < 1
            or array.dtype.kind not in "iu"):
        raise ValueError(f"`replica_rows` must be an int array of shape (replicas={replicas}"
                         f", rows per replica); received {array.dtype} of shape "
                         f"{array.shape}.")
    if array.min() < 0 or array.max() >= samples:
        raise ValueError(f"`replica_rows` must index the {samples} training samples "
                         f"(0 to {samples - 1}); received values from {array.min()} to "
                         f"{array.max()}.")
    return array.astype(np.int64)


def arrays_for_fit(x, y, sample_weight, batch_size, validation_split, validation_data,
                   class_weight, replica_rows, replicas: int) -> tuple:
    """``fit``'s arrays, as the feed takes them: ``(data, batch_size,
    validation_data, replica_rows)``, with ``validation_split`` and
    ``class_weight`` applied and ``replica_rows`` checked."""
    data, batch_size = training_data(x, y, sample_weight, batch_size)
    if replica_rows is not None:
        if validation_split:
            raise ValueError("`replica_rows`: each replica's training rows are given, so "
                             "`validation_split` has nothing to split; pass validation_data, "
                             "or no validation.")
        replica_rows = check_rows(replica_rows, replicas, len(keras.tree.flatten(data[0])[0]))
    if validation_split and validation_data is None:
        data, validation_data = split_validation(data, validation_split)
    return apply_class_weight(data, class_weight), batch_size, validation_data, replica_rows


def _read_dataset(dataset):
    # An infinite one is a stream (keras_seeds/replicas/sources.py), never read here.
    parts, first_batch = [], None
    for element in dataset.as_numpy_iterator():
        x, y, sw = keras.utils.unpack_x_y_sample_weight(element)
        if first_batch is None:
            first_batch = int(np.shape(keras.tree.flatten(x)[0])[0])
        parts.append((x, y, sw))
    if not parts:
        raise ValueError("`x`: the tf.data.Dataset is empty.")

    def concat(index):
        if parts[0][index] is None:
            return None
        return keras.tree.map_structure(lambda *leaves: np.concatenate(leaves),
                                        *[p[index] for p in parts])

    return concat(0), concat(1), concat(2), first_batch


def apply_class_weight(data, class_weight):
    if not class_weight:
        return data
    x, y, sample_weight = data
    if y is None or len(keras.tree.flatten(y)) != 1:
        raise ValueError("`class_weight` needs a single target array `y` (it is not "
                         "supported for models with several outputs).")
    labels = np.asarray(keras.tree.flatten(y)[0])
    if labels.ndim == 2 and labels.shape[1] > 1:
        labels = labels.argmax(axis=1)
    labels = labels.reshape(len(labels)).astype(int)
    missing = sorted(set(np.unique(labels)) - set(class_weight))
    if missing:
        raise ValueError(f"`class_weight` has no weight for classes {missing}; received "
                         f"class_weight={class_weight!r}.")
    weights = np.array([class_weight[c] for c in labels], dtype="float32")
    if sample_weight is not None:
        weights = weights * np.asarray(sample_weight, dtype="float32").reshape(len(weights))
    return x, y, weights


def split_validation(data, validation_split):
    if not isinstance(validation_split, (float, int)) or not 0 <= validation_split < 1:
        raise ValueError("`validation_split` must be a float in [0, 1); received "
                         f"validation_split={validation_split!r}.")
    n = len(keras.tree.flatten(data[0])[0])
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at in (0, n):
        raise ValueError(f"`validation_split={validation_split}` leaves no training or no "
                         f"validation samples out of {n}.")

    def part(selection):
        return tuple(None if d is None else keras.tree.map_structure(lambda a: a[selection], d)
                     for d in data)

    train, validation = part(slice(0, split_at)), part(slice(split_at, None))
    return train, tuple(v for v in validation if v is not None)


BATCH_KEY = "keras_seeds_batch"


def is_batch_number(data) -> bool:
    """Whether a train-step element is a :class:`ReplicaFeed` batch number."""
    return isinstance(data, dict) and set(data) == {BATCH_KEY}


class _Feed:
    """What both feeds share: the data seeds, batching, and whether new data
    fits the compiled step as it is."""

    data_seeds: list
    batch_size: int
    shuffle: bool
    num_samples: int
    _kind: tuple

    def _kind_of(self, data, rows=None) -> tuple:
        leaves = keras.tree.flatten(data)
        return (keras.tree.map_structure(lambda _: 0, data), self.batch_size, self.shuffle,
                tuple(self.data_seeds), tuple((a.dtype, a.shape[1:]) for a in leaves),
                rows is None)

    def accepts(self, data, data_seeds, batch_size: int, shuffle: bool, rows=None) -> bool:
        """Whether ``data`` (and per-replica ``rows``) can be loaded into this feed
        as it is (so the traced step is reused)."""
        return (list(data_seeds), batch_size, shuffle) == (
            self.data_seeds, self.batch_size, self.shuffle) and (
            self._kind_of(data, rows) == self._kind)

    @property
    def steps(self) -> int:
        """Batches in one pass."""
        return -(-self.num_samples // self.batch_size)


class ReplicaFeed(_Feed):
    """``fit``'s training arrays held in variables and batched per replica inside
    the train step.

    Keras makes a new iterator over fit's dataset twice per epoch; a pipeline
    that draws K orders and gathers K batches costs about 70 ms per iterator, a
    third of an epoch of the digits MLP with K=32. So Keras iterates over batch
    numbers only (``{BATCH_KEY: b}``, free to iterate), and :meth:`batch` turns
    batch ``b`` of a pass into the replicas' batches: at ``b == 0`` it draws the
    pass's orders (``data_order.order.replica_orders`` of ``pass_index``, then
    advances it), and every ``b`` gathers rows ``b * batch_size`` onward.

    The variables keep their shapes' trailing dimensions and dtypes, so a later
    ``fit`` with data of the same kind reuses the traced step (:meth:`accepts`).

    With ``rows`` (``(K, m)``), replica k's passes are over its own ``m`` rows
    ``rows[k]`` of the arrays (its training split): its order is drawn over
    ``m`` positions and mapped through ``rows[k]``.
    """

    def __init__(self, data: tuple, data_seeds, batch_size: int, shuffle: bool, rows=None):
        import tensorflow as tf

        self.data_seeds = list(data_seeds)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self._kind = self._kind_of(data, rows)
        self.data = tf.nest.map_structure(
            lambda a: tf.Variable(as_tensor(a), trainable=False, shape=(None,) + a.shape[1:]),
            data)
        self.order = tf.Variable(tf.zeros((len(self.data_seeds), 0), tf.int64),
                                 trainable=False, shape=(len(self.data_seeds), None))
        self.rows = None if rows is None else tf.Variable(
            np.asarray(rows, np.int64), trainable=False, shape=(len(self.data_seeds), None))
        self.pass_index = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.num_samples = _pass_length(data, rows)

    def load(self, data, pass_index: int, rows=None) -> None:
        import tensorflow as tf

        tf.nest.map_structure(lambda variable, a: variable.assign(as_tensor(a)), self.data, data)
        if rows is not None:
            self.rows.assign(np.asarray(rows, np.int64))
        self.num_samples = _pass_length(data, rows)
        self.pass_index.assign(int(pass_index))

    def fit_input(self, steps_per_epoch: int | None) -> dict:
        """What Keras' ``fit`` iterates over: :meth:`dataset` of batch numbers."""
        return {"x": self.dataset(repeat=steps_per_epoch is not None)}

    def dataset(self, repeat: bool):
        """Batch numbers of one pass (forever, passes back to back, if ``repeat``)."""
        import tensorflow as tf

        dataset = tf.data.Dataset.from_tensor_slices({BATCH_KEY: np.arange(self.steps)})
        return dataset.repeat() if repeat else dataset

    def batch(self, number):
        """The replicas' batch ``number`` of the current pass: ``(K, batch, ...)``."""
        import tensorflow as tf

        def new_pass():
            num_samples = (tf.shape(tf.nest.flatten(self.data)[0], out_type=tf.int64)[0]
                           if self.rows is None else
                           tf.shape(self.rows, out_type=tf.int64)[1])
            self.order.assign(data_order.replica_orders(num_samples, self.data_seeds,
                                                        self.pass_index, self.shuffle))
            self.pass_index.assign_add(1)
            return tf.constant(True)

        # The cond runs before the slice below: TensorFlow orders a function's
        # reads and writes of one variable as written.
        tf.cond(tf.equal(number, 0), new_pass, lambda: tf.constant(False))
        start = number * self.batch_size
        indices = self.order[:, start:start + self.batch_size]
        if self.rows is not None:
            indices = tf.gather(self.rows, indices, batch_dims=1)
        return tf.nest.map_structure(lambda variable: tf.gather(variable, indices), self.data)


def _pass_length(data, rows) -> int:
    """Examples in one replica's pass: all rows, or its own ``rows[k]``."""
    return len(keras.tree.flatten(data)[0]) if rows is None else int(np.shape(rows)[1])


class _PassCounter:
    """The pass a :class:`HostReplicaFeed` draws next; ``assign`` (as on a
    variable) also starts that pass from its first batch."""

    def __init__(self, feed: "HostReplicaFeed"):
        self._feed = feed
        self.value = 0

    def assign(self, value) -> None:
        self.value = int(value)
        self._feed.position = 0

    def numpy(self):
        return np.int64(self.value)


class HostReplicaFeed(_Feed):
    """:class:`ReplicaFeed` for the JAX backend: the training arrays on the
    device, each pass's orders drawn on the host with NumPy
    (``data_order.order.replica_orders_numpy``, bit for bit TensorFlow's, so
    replica k sees the batches it sees on TensorFlow, and no TensorFlow is
    needed) and each step's ``(K, batch, ...)`` batch gathered by one compiled
    function. Keras' JAX ``fit`` iterates over a placeholder array of
    one element per step; :meth:`next_batch` is what the step trains on."""

    def __init__(self, data: tuple, data_seeds, batch_size: int, shuffle: bool, rows=None):
        import jax

        self.data_seeds = list(data_seeds)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.position = 0
        self.pass_index = _PassCounter(self)
        self.order = None
        self._kind = self._kind_of(data, rows)
        self._gather = jax.jit(lambda arrays, indices: keras.tree.map_structure(
            lambda a: a[indices], arrays))
        self.load(data, 0, rows)

    def load(self, data, pass_index: int, rows=None) -> None:
        import jax.numpy as jnp

        for leaf in keras.tree.flatten(data):
            if leaf.dtype.kind in "OUS":
                raise TypeError(
                    "`x`: string features need the TensorFlow backend (JAX arrays hold "
                    f"numbers only); received an array of dtype {leaf.dtype}. Encode the "
                    "strings before fit (a StringLookup applied to the data), or run with "
                    "KERAS_BACKEND=tensorflow.")
        self.data = keras.tree.map_structure(jnp.asarray, data)
        self.rows = None if rows is None else np.asarray(rows, np.int64)
        self.num_samples = _pass_length(data, rows)
        self.pass_index.assign(pass_index)

    def fit_input(self, steps_per_epoch: int | None) -> dict:
        """What Keras' ``fit`` iterates over: one placeholder element per step."""
        return {"x": np.zeros((steps_per_epoch or self.steps,), "float32"), "batch_size": 1}

    def next_from(self, iterator):
        """The replicas' next batch, Keras' ``iterator`` counting the step."""
        next(iterator)
        return self.next_batch()

    def next_batch(self):
        """The replicas' next batch: ``(K, batch, ...)`` leaves."""
        if self.position == 0:
            self.order = data_order.replica_orders_numpy(
                self.num_samples, self.data_seeds, self.pass_index.value, self.shuffle)
            self.pass_index.value += 1
        start = self.position * self.batch_size
        indices = self.order[:, start:start + self.batch_size]
        if self.rows is not None:
            indices = np.take_along_axis(self.rows, indices, axis=1)
        self.position = (self.position + 1) % self.steps
        return self._gather(self.data, indices)

    def first_batch(self, replicas: int):
        """The first ``batch_size`` rows, the same for ``replicas`` replicas (for
        timing probes)."""
        import jax.numpy as jnp

        return keras.tree.map_structure(
            lambda a: jnp.broadcast_to(a[:self.batch_size],
                                       (replicas,) + a[:self.batch_size].shape), self.data)
