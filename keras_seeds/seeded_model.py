"""The replica model: K seed replicas of one Keras model trained in one fused ``fit``.

How the replicas are fused: every variable of the member model (weights,
BatchNormalization statistics, SeedGenerator states, metric totals) is stacked
into one variable with a leading replica axis, and ``tf.vectorized_map`` runs
the member's ``stateless_call`` and loss over that axis in a single graph. The
gradient of the sum of the replicas' losses is, slice by slice, each replica's
own gradient, and the stacked variables go through one optimizer whose update
is element-wise, so nothing couples the replicas. Optimizer options that look
across a variable (``clipnorm``, ``global_clipnorm``) are applied per replica.

What makes replica i "the run of seed s_i":

- its member is built under its ``init`` sub-seed (``build_fn`` is called once
  per replica; a template model is cloned and re-initialised per replica);
- its SeedGenerators (Dropout, noise, augmentation) are seeded from its
  ``noise`` and ``augment`` sub-seeds;
- each epoch its batches follow its own order from its ``data`` sub-seed.

So replica i of a K-replica model and ``SeededModel(..., seeds=[s_i])`` trained
alone share their initial weights, batch order and random draws bit for bit,
and their arithmetic up to floating-point reassociation (docs/replicas.md).
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from typing import Any, Callable, Sequence

import keras
import numpy as np

from keras_seeds.fit_data import (BATCH_KEY, ReplicaFeed, apply_class_weight, is_batch_number,
                                  peek, split_validation, training_data)
from keras_seeds.seeding import seeded_construction
from keras_seeds.stacking import Untracked, check_combine, combine_outputs, stacked_outputs
from keras_seeds.seeds import (Seeds, check_replicas, check_seed, check_seed_list,
                               draw_seed, replica_seeds)

# Optimizers whose update of one variable looks at the whole variable (trust
# ratios, orthogonalisation, a shared loss scale): on a stacked variable they
# would mix the replicas.
_COUPLING_OPTIMIZERS = ("LossScaleOptimizer", "Lamb", "Muon")


class _QuietFallbackFilter(logging.Filter):
    """Drops TF's notice that a random op is vectorized with a loop (expected here:
    TF has no vectorized form for stateless random ops with per-replica seeds)."""

    def filter(self, record):
        return "Using a while_loop for converting" not in record.getMessage()


logging.getLogger("tensorflow").addFilter(_QuietFallbackFilter())


def _register_bitcast_vectorization() -> None:
    """Teaches ``tf.vectorized_map`` to vectorize ``Bitcast``, which it otherwise
    runs as a K-step loop inside every Dropout (Keras' stateless dropout bitcasts
    its seed). A bitcast acts on each element, so the stacked input is simply
    bitcast whole: exact, and one op instead of K."""
    from tensorflow.python.ops import array_ops
    from tensorflow.python.ops.parallel_for import pfor

    if "Bitcast" in pfor._pfor_converter_registry:
        return

    @pfor.RegisterPFor("Bitcast")
    def _convert_bitcast(pfor_input):
        stacked = pfor_input.stacked_input(0)
        return pfor.wrap(array_ops.bitcast(stacked, pfor_input.get_attr("type")), True)


def replica_key(name: str, index: int) -> str:
    """The History/logs name of replica ``index``'s value of ``name``.

    Example:

    >>> replica_key("val_loss", 3)
    'val_loss_replica_3'
    """
    return f"{name}_replica_{index}"


_REPLICA_KEY = re.compile(r"(?P<name>.+)_replica_(?P<index>\d+)")


def replica_curves(logs) -> dict[str, np.ndarray]:
    """Every per-replica value in ``fit`` logs/History, ``{name: (epochs, K)}``.

    Example:

    >>> replica_curves({"loss": [1.0], "loss_replica_0": [0.5], "loss_replica_1": [1.5]})
    {'loss': array([[0.5, 1.5]])}
    """
    found: dict[str, dict[int, Any]] = {}
    for key, values in logs.items():
        match = _REPLICA_KEY.fullmatch(key)
        if match:
            found.setdefault(match["name"], {})[int(match["index"])] = values
    return {name: np.array([by_index[k] for k in range(len(by_index))], dtype=float).T
            for name, by_index in found.items() if set(by_index) == set(range(len(by_index)))}


@keras.saving.register_keras_serializable(package="keras_seeds")
class SeededModel(keras.Model):
    """K seed replicas of a Keras model, trained together in one fused ``fit``.

    Replica i is the run of seed ``replica_seeds[i]``: its weights are built
    under that seed's ``init`` sub-seed, its Dropout/noise streams follow its
    ``noise`` sub-seed and its batches, every epoch, follow its ``data``
    sub-seed. The replicas train in one vectorized graph (variables carry a
    leading replica axis), which costs far less than K separate ``fit`` calls.

    What replica i shares with ``SeededModel(build_fn, seeds=[s_i])`` trained
    alone on the same data, compile and fit arguments: the initial weights,
    the batch order and the random draws (Dropout masks, noise, augmentation),
    bit for bit; per-replica gradient clipping and optimizer state; and the
    arithmetic, up to floating-point reassociation: the fused kernels add in
    another order, so after one step the two agree to a few float32 ulps, and
    training amplifies that by an amount that depends on the CPU, the seed and
    the number of steps. After a whole training replica i's predictions stay
    within a small fraction of the distance between seeds of its solo run's
    (:func:`keras_seeds.statistics.replica_solo_gap`, at most 0.1 in the
    tests). Two runs of the same fused fit on one host are bitwise equal.

    ``compile`` and ``fit`` take what Keras takes. History and logs hold the
    mean over the replicas under the usual names (``loss``, ``val_accuracy``)
    and each replica's own value as ``<name>_replica_<i>`` (see
    :func:`replica_key` and :meth:`replica_history`). A replica whose loss
    becomes NaN or infinite is left out of the means, counted in the
    ``diverged`` log and listed in :attr:`diverged_replicas`; the others keep
    training, untouched.

    Args:
        build_fn: a function that returns a new, uncompiled Keras model; it is
            called once per replica under that replica's ``init`` seed. Or a
            Keras model used as a template: it is cloned per replica and each
            clone re-initialised from the replica's ``init`` seed (the
            template's own weights are not used).
        replicas: the number of replicas K (with ``seed``).
        seed: master seed; replica i gets the seed
            ``derive_seed(seed, 6, i)`` (prefix-stable: the first 4 of 8 are
            the 4 of 4). ``None`` draws one from OS entropy and records it.
        seeds: the replica seeds themselves, instead of ``seed``.
        **kwargs: passed to ``keras.Model`` (``name``, ...).

    Example:

    >>> import numpy as np, keras, keras_seeds as ks
    >>> def build():
    ...     return keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
    ...                              keras.layers.Dropout(0.2), keras.layers.Dense(1)])
    >>> model = ks.SeededModel(build, replicas=3, seed=42)
    >>> model.replicas, model.replica_seeds[:2] == ks.SeededModel(build, replicas=2, seed=42).replica_seeds
    (3, True)
    >>> model.compile(optimizer="adam", loss="mse")
    >>> x, y = np.random.rand(64, 4), np.random.rand(64, 1)
    >>> history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    >>> sorted(history.history)[:3]
    ['diverged', 'loss', 'loss_replica_0']
    >>> model.predict_replicas(x, verbose=0).shape, model.predict(x, verbose=0).shape
    ((3, 64, 1), (64, 1))
    >>> {name: len(values) for name, values in model.evaluate_replicas(x, y).items()}
    {'loss': 3}
    """

    def __init__(self, build_fn: "Callable[[], keras.Model] | keras.Model | None" = None, *,
                 replicas: int | None = None, seed: int | None = None,
                 seeds: Sequence[int] | None = None, **kwargs):
        restore = kwargs.pop("_restore", None)
        super().__init__(**kwargs)
        _register_bitcast_vectorization()
        self.seed, self.replica_seeds = _resolve_seeds(replicas, seed, seeds)
        if restore is None and not (callable(build_fn) or isinstance(build_fn, keras.Model)):
            raise TypeError("`build_fn` must be a function that returns a Keras model, or a "
                            f"Keras model to use as a template; received build_fn={build_fn!r}.")
        self._hidden = Untracked(build_fn=None if isinstance(build_fn, keras.Model) else build_fn,
                               template=build_fn if isinstance(build_fn, keras.Model) else None,
                               member=None, metric_vars=None, metric_reset=None,
                               compile_args=None, frozen=frozenset(), feed=None,
                               trainable=[], non_trainable=[])
        self.diverged_replicas: list[int] = []
        if restore is not None:
            self._hidden.template = restore
            self._stack_members([restore], restore=True)
        else:
            first = self._new_member(0)
            if first.built:
                self._build_replicas(first)
            else:
                self._hidden.pending = first

    # ----------------------------------------------------------------- seeds
    @property
    def replicas(self) -> int:
        """The number of seed replicas K."""
        return len(self.replica_seeds)

    def replica_sub_seeds(self, index: int) -> Seeds:
        """The :class:`~keras_seeds.Seeds` of replica ``index``."""
        return Seeds(self.replica_seeds[self._check_index(index)])

    def _check_index(self, index, name: str = "index") -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"`{name}` must be an int in [0, {self.replicas - 1}]; received "
                            f"{name}={index!r} of type {type(index).__name__}.")
        if not 0 <= index < self.replicas:
            raise IndexError(f"`{name}` must be in [0, {self.replicas - 1}] for a model with "
                             f"{self.replicas} replicas; received {name}={index}.")
        return int(index)

    # ------------------------------------------------------------- building
    def _new_member(self, index: int) -> keras.Model:
        """A fresh member model for replica ``index``, built under its init seed."""
        seeds = self.replica_sub_seeds(index)
        hidden = self._hidden
        with seeded_construction(seeds.init):
            if hidden.build_fn is not None:
                member = hidden.build_fn()
                if not isinstance(member, keras.Model):
                    raise TypeError("`build_fn` must return a Keras model; it returned "
                                    f"{member!r} of type {type(member).__name__}.")
            else:
                member = keras.models.clone_model(hidden.template)
        return member

    def _finish_member(self, member: keras.Model, index: int, sample_x=None) -> keras.Model:
        from keras_seeds.generators import reinitialize_weights, reseed_generators

        seeds = self.replica_sub_seeds(index)
        if not member.built:
            with seeded_construction(seeds.init):
                member(sample_x)
        if self._hidden.build_fn is None:
            reinitialize_weights(member, seeds.init)
        reseed_generators(member, seeds.noise, seeds.augment)
        return member

    def _build_replicas(self, first: keras.Model, sample_x=None) -> None:
        members = [self._finish_member(first, 0, sample_x)]
        for index in range(1, self.replicas):
            members.append(self._finish_member(self._new_member(index), index, sample_x))
        self._stack_members(members)

    def _ensure_built(self, x) -> None:
        """Builds the replicas from a data sample when the member was unbuilt."""
        pending = getattr(self._hidden, "pending", None)
        if pending is None:
            return
        sample = keras.tree.map_structure(lambda a: np.asarray(a)[:1], x)
        self._build_replicas(pending, sample)
        del self._hidden.pending

    def build(self, input_shape=None):
        if self._hidden.member is None and input_shape is not None:
            sample = keras.tree.map_shape_structure(
                lambda shape: np.zeros((1,) + tuple(shape[1:]), "float32"), input_shape)
            self._ensure_built(sample)
        self.built = True

    def _stack_members(self, members: list, restore: bool = False) -> None:
        import tensorflow as tf

        first = members[0]
        _check_same_shapes(members)
        if not restore and len(members) > 1 and all(
                _same_values(first.trainable_variables, m.trainable_variables)
                for m in members[1:]):
            warnings.warn(
                "SeededModel: every replica starts from the same weights (the model fixes "
                "its initializer seeds or loads weights), so replicas differ only in data "
                "order and noise.", stacklevel=3)
        for trainable, target in ((True, self._hidden.trainable),
                                  (False, self._hidden.non_trainable)):
            per_member = [m.trainable_variables if trainable else m.non_trainable_variables
                          for m in members]
            # column = one variable across the members, replica 0 first.
            for i, column in enumerate(zip(*per_member)):
                variable = column[0]
                stacked = self.add_weight(
                    shape=(self.replicas,) + tuple(variable.shape), dtype=variable.dtype,
                    initializer="zeros", trainable=trainable,
                    name=f"replicas_{'t' if trainable else 'n'}{i}_{variable.name}")
                if not restore:
                    stacked.assign(tf.stack([tf.convert_to_tensor(v) for v in column]))
                target.append(stacked)
        self._hidden.member = first
        if self._hidden.compile_args is not None:
            first.compile(**self._member_compile_args())
        self.built = True

    # ------------------------------------------------------------- compiling
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        """Configures training like ``keras.Model.compile``; every replica gets
        the same loss and metrics, and its own optimizer state.

        ``clipnorm`` and ``global_clipnorm`` act per replica. Optimizers that
        couple the values of a whole variable (``LossScaleOptimizer``, ``Lamb``,
        ``Muon``) are refused: they would mix the replicas.
        """
        from keras.src.saving import serialization_lib

        optimizer = keras.optimizers.get(optimizer)
        name = type(optimizer).__name__
        if any(cls.__name__ in _COUPLING_OPTIMIZERS for cls in type(optimizer).__mro__):
            raise ValueError(
                f"`optimizer`: {name} looks across all values of a variable, so on the "
                "stacked replica variables it would couple the replicas; use an element-wise "
                f"optimizer (Adam, AdamW, SGD, RMSprop, ...). Received optimizer={name}.")
        if jit_compile == "auto":
            # XLA spends minutes compiling the per-replica random-op loops, and is
            # not deterministic on GPU: off unless asked for.
            jit_compile = False
        args = dict(loss=loss, loss_weights=loss_weights, metrics=metrics,
                    weighted_metrics=weighted_metrics)
        self._hidden.compile_args = args
        # Mixed-precision loss scaling skips a step for all when one replica
        # overflows; it is off here (auto_scale_loss) and refused above.
        super().compile(optimizer=optimizer, run_eagerly=run_eagerly,
                        steps_per_execution=steps_per_execution, jit_compile=jit_compile,
                        auto_scale_loss=False)
        self._loss_tracker = None
        _clip_per_replica(self.optimizer)
        self._compile_config = serialization_lib.SerializableDict(
            optimizer=optimizer, run_eagerly=run_eagerly,
            steps_per_execution=steps_per_execution, jit_compile=jit_compile, **args)
        self._hidden.metric_vars = self._hidden.results_fn = None
        if self._hidden.member is not None:
            self._hidden.member.compile(**self._member_compile_args())

    def _member_compile_args(self) -> dict:
        return dict(optimizer=None, **self._hidden.compile_args)

    def compile_from_config(self, config):
        from keras.src.saving import serialization_lib

        self.compile(**serialization_lib.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def _ensure_metrics(self, x, y, sample_weight) -> None:
        """Creates the stacked metric state once the shapes of the data are known."""
        import tensorflow as tf

        if self._hidden.metric_vars is not None:
            return
        member = self._hidden.member
        member._symbolic_build(data_batch=peek(x, y, sample_weight))
        member.reset_metrics()
        initial = [np.asarray(v) for v in member.metrics_variables]
        self._hidden.metric_reset = initial
        self._hidden.metric_vars = [
            tf.Variable(np.stack([value] * self.replicas), trainable=False,
                        name=f"replica_metric_{i}")
            for i, value in enumerate(initial)]

    def reset_metrics(self):
        for variable, value in zip(self._hidden.metric_vars or [], self._hidden.metric_reset or []):
            variable.assign(np.stack([value] * self.replicas))

    @property
    def metrics(self):
        return []

    # ------------------------------------------------------------ one replica
    def _replica_fn(self, training: bool, x=None, y=None, sample_weight=None, per_replica_data=True):
        """The function ``tf.vectorized_map`` maps over the replica axis."""
        from keras.src import backend

        member = self._hidden.member
        call_kwargs = {"training": training} if member._call_has_training_arg else {}

        def one_replica(args):
            if per_replica_data:
                tv, ntv, mv, x_r, y_r, sw_r = args
            else:
                (tv, ntv, mv), x_r, y_r, sw_r = args, x, y, sample_weight
            y_r = None if _is_absent(y_r) else y_r
            sw_r = None if _is_absent(sw_r) else sw_r
            y_pred, ntv, losses = member.stateless_call(tv, ntv, x_r, return_losses=True,
                                                        **call_kwargs)
            if losses:
                member._losses_override = losses
            loss, (_, ntv, mv) = member.stateless_compute_loss(
                tv, ntv, mv, x=x_r, y=y_r, y_pred=y_pred, sample_weight=sw_r,
                training=training)
            if losses:
                member._losses_override = []
            mapping = list(zip(member.metrics_variables, mv))
            with backend.StatelessScope(state_mapping=mapping) as scope:
                batch = keras.ops.shape(keras.tree.flatten(x_r)[0])[0]
                member._loss_tracker.update_state(loss, sample_weight=batch)
                if member._compile_metrics is not None:
                    member._compile_metrics.update_state(y_r, y_pred, sw_r)
                logs = member.get_metrics_result()
            mv = [scope.get_current_value(v) for v in member.metrics_variables]
            return loss, ntv, mv, logs

        return one_replica

    def _variable_values(self):
        import tensorflow as tf

        return ([tf.convert_to_tensor(v) for v in self._hidden.trainable],
                [tf.convert_to_tensor(v) for v in self._hidden.non_trainable],
                [tf.convert_to_tensor(v) for v in self._hidden.metric_vars])

    def _store(self, non_trainable, metric_values) -> None:
        for variable, value in zip(self._hidden.non_trainable, non_trainable):
            variable.assign(value)
        for variable, value in zip(self._hidden.metric_vars, metric_values):
            variable.assign(value)

    # -------------------------------------------------------------- stepping
    def train_step(self, data):
        import tensorflow as tf
        from keras.src.trainers.data_adapters import data_adapter_utils

        if is_batch_number(data):
            data = self._hidden.feed.batch(data[BATCH_KEY])
        x, y, sample_weight = data_adapter_utils.unpack_x_y_sample_weight(data)
        frozen = sorted(self._hidden.frozen)
        guarded = self._guarded_variables() if frozen else []
        before = [tf.identity(v) for v in guarded]
        with tf.GradientTape() as tape:
            tv, ntv, mv = self._variable_values()
            losses, ntv, mv, logs = tf.vectorized_map(
                self._replica_fn(True),
                (tv, ntv, mv, x, _placeholder(y), _placeholder(sample_weight)))
            # d(sum of losses)/d(slice k) is replica k's own gradient.
            total = tf.reduce_sum(losses)
        grads = tape.gradient(total, self._hidden.trainable)
        self.optimizer.apply(grads, self._hidden.trainable)
        self._store(ntv, mv)
        if frozen:
            keep = tf.constant([k not in frozen for k in range(self.replicas)])
            for variable, old in zip(guarded, before):
                mask = tf.reshape(keep, (-1,) + (1,) * (len(variable.shape) - 1))
                variable.assign(tf.where(mask, variable, old))
        return self._summarise(logs, training=True)

    def test_step(self, data):
        import tensorflow as tf
        from keras.src.trainers.data_adapters import data_adapter_utils

        x, y, sample_weight = data_adapter_utils.unpack_x_y_sample_weight(data)
        tv, ntv, mv = self._variable_values()
        _, _, mv, logs = tf.vectorized_map(
            self._replica_fn(False, x, y, sample_weight, per_replica_data=False), (tv, ntv, mv))
        for variable, value in zip(self._hidden.metric_vars, mv):
            variable.assign(value)
        return self._summarise(logs, training=False)

    def predict_step(self, data):
        from keras.src.trainers.data_adapters import data_adapter_utils

        x, _, _ = data_adapter_utils.unpack_x_y_sample_weight(data)
        # Batch first, so Keras concatenates batches along the right axis.
        return keras.tree.map_structure(_replica_axis_second, self._replica_outputs(x))

    def _replica_outputs(self, x, training: bool = False):
        return stacked_outputs(self._hidden.member, self._hidden.trainable,
                               self._hidden.non_trainable, x, training=training)

    def call(self, inputs, training=False):
        """The ensemble output: the mean of the replicas' outputs."""
        return keras.tree.map_structure(lambda t: keras.ops.mean(t, axis=0),
                                        self._replica_outputs(inputs, training=bool(training)))

    def compute_output_spec(self, inputs, training=False):
        return self._hidden.member.compute_output_spec(inputs)

    def _summarise(self, per_replica: dict, training: bool) -> dict:
        """Means over the replicas that have not diverged, and every replica's value."""
        import tensorflow as tf

        finite = tf.math.is_finite(tf.cast(per_replica["loss"], tf.float32))
        count = tf.reduce_sum(tf.cast(finite, tf.float32))
        logs = {}
        for name, values in per_replica.items():
            values = tf.cast(values, tf.float32)
            mask = tf.reshape(finite, (-1,) + (1,) * (len(values.shape) - 1))
            total = tf.reduce_sum(tf.where(mask, values, 0.0), axis=0)
            logs[name] = tf.where(count > 0, total / tf.maximum(count, 1.0), math.nan)
        if training:
            logs["diverged"] = self.replicas - count
        return logs

    def _get_metrics_result_or_logs(self, logs):
        """Epoch-end logs: the means plus every replica's value. (Steps return the
        means only: K values per metric per step would slow training down.)"""
        if not self._hidden.metric_vars:
            return logs
        per_replica = {name: np.asarray(values)
                       for name, values in self._replica_results().items()}
        epoch_logs = {name: np.asarray(value)
                      for name, value in self._summarise(per_replica, "diverged" in logs).items()}
        for name, values in per_replica.items():
            for k in range(self.replicas):
                epoch_logs[replica_key(name, k)] = values[k]
        return epoch_logs

    def _replica_results(self) -> dict:
        """Each replica's current metric results, ``{name: (K,) tensor}``."""
        import tensorflow as tf
        from keras.src import backend

        if getattr(self._hidden, "results_fn", None) is None:
            member = self._hidden.member

            def one_replica(metric_values):
                mapping = list(zip(member.metrics_variables, metric_values))
                with backend.StatelessScope(state_mapping=mapping):
                    return member.get_metrics_result()

            self._hidden.results_fn = tf.function(
                lambda values: tf.vectorized_map(one_replica, values), autograph=False)
        return self._hidden.results_fn([tf.convert_to_tensor(v) for v in self._hidden.metric_vars])

    def _guarded_variables(self) -> list:
        """Everything one replica's update changes: what a frozen replica keeps."""
        K = self.replicas
        optimizer_slots = [v for v in self.optimizer.variables
                           if len(v.shape) >= 1 and v.shape[0] == K
                           and v is not self.optimizer.iterations]
        return self._hidden.trainable + self._hidden.non_trainable + optimizer_slots

    # --------------------------------------------------------------- fitting
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        """Trains all replicas; takes ``keras.Model.fit``'s arguments.

        Arrays (and a finite ``tf.data.Dataset``, read into memory once; its
        elements are batches, as in Keras) are batched per replica: each epoch,
        replica i's batches follow its own order from its ``data`` sub-seed
        (``shuffle=False`` keeps the given order for all). ``validation_split``
        takes the last fraction of the arrays, like Keras.
        """
        from keras_seeds.shuffling import _pack

        self._assert_compile_called("fit")
        data, batch_size = training_data(x, y, sample_weight, batch_size)
        if validation_split and validation_data is None:
            data, validation_data = split_validation(data, validation_split)
        data = apply_class_weight(data, class_weight)
        self._ensure_built(data[0])
        self._ensure_metrics(*data)
        if not self.optimizer.built:
            # Slots made inside the traced step would make TensorFlow trace it twice.
            self.optimizer.build(self.trainable_variables)
        feed = self._feed(_pack(*data), batch_size, bool(shuffle), initial_epoch)
        dataset = feed.dataset(repeat=steps_per_epoch is not None)
        internal = [_ReplicaWatch(feed.pass_index if steps_per_epoch is None else None)]
        if verbose != 0:
            internal.append(_MeanProgbar())
        return super().fit(
            dataset, epochs=epochs, verbose=verbose,
            callbacks=internal + list(callbacks or []), validation_data=validation_data,
            shuffle=False, initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
            validation_steps=validation_steps,
            validation_batch_size=validation_batch_size or batch_size,
            validation_freq=validation_freq)

    def _feed(self, data: tuple, batch_size: int, shuffle: bool, initial_epoch: int) -> ReplicaFeed:
        """The training feed for this fit: the last one, refilled, when the data is
        of the same kind (so the traced step is reused), else a new one."""
        seeds = [self.replica_sub_seeds(k).data for k in range(self.replicas)]
        feed = self._hidden.feed
        if feed is not None and feed.accepts(data, seeds, batch_size, shuffle):
            feed.load(data, initial_epoch)
        else:
            feed = self._hidden.feed = ReplicaFeed(data, seeds, batch_size, shuffle)
            feed.pass_index.assign(int(initial_epoch))
            self.train_function = None  # its graph reads the old feed's variables
        return feed

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False, **kwargs):
        """Evaluates every replica on the same data.

        Returns what ``keras.Model.evaluate`` returns, for the mean over the
        replicas (``return_dict=True`` adds every replica's value under
        ``<name>_replica_<i>``). :meth:`evaluate_replicas` groups them by metric.
        """
        self._assert_compile_called("evaluate")
        if not kwargs.get("_use_cached_eval_dataset"):
            sample_x, sample_y, sample_sw = peek(x, y, sample_weight)
            self._ensure_built(sample_x)
            self._ensure_metrics(sample_x, sample_y, sample_sw)
            if verbose != 0 and not isinstance(callbacks, keras.callbacks.CallbackList):
                callbacks = [_MeanProgbar()] + list(callbacks or [])
        logs = super().evaluate(x, y, batch_size=batch_size, verbose=verbose,
                                sample_weight=sample_weight, steps=steps, callbacks=callbacks,
                                return_dict=True, **kwargs)
        logs = {name: float(value) if np.ndim(value) == 0 else np.asarray(value)
                for name, value in logs.items()}
        if return_dict:
            return logs
        means = [logs[name] for name in self._metric_names()]
        return means[0] if len(means) == 1 else means

    def _metric_names(self) -> list[str]:
        member = self._hidden.member
        names = ["loss"]
        if member._compile_metrics is not None:
            names += [m.name for m in member._compile_metrics.metrics]
        return names

    def evaluate_replicas(self, x=None, y=None, batch_size=None, sample_weight=None,
                          steps=None, verbose=0) -> dict[str, list[float]]:
        """Each replica's loss and metrics on ``(x, y)``: ``{metric: [K values]}``.

        Example: see :class:`SeededModel`.
        """
        logs = self.evaluate(x, y, batch_size=batch_size, sample_weight=sample_weight,
                             steps=steps, verbose=verbose, return_dict=True)
        return {name: [_plain(logs[replica_key(name, k)]) for k in range(self.replicas)]
                for name in logs if replica_key(name, 0) in logs}

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None,
                combine: str = "mean"):
        """The ensemble prediction: the replicas' outputs combined.

        Args:
            combine: ``"mean"`` of the outputs (probabilities, regression
                values), ``"mean_probs"`` (softmax of each replica's logits,
                then the mean: for models that output logits) or ``"median"``.

        Returns:
            Outputs shaped like one replica's.
        """
        combine = check_combine(combine)
        outputs = self._predict_batch_first(x, batch_size, verbose, steps, callbacks)
        return keras.tree.map_structure(
            lambda a: np.asarray(combine_outputs(a, combine, axis=1)), outputs)

    def ensemble(self, combine: str = "mean", uncertainty: bool = False, name=None):
        """The replicas as one deployable :class:`~keras_seeds.SeedEnsemble`, fused.

        The ensemble keeps the replica axis (one batched graph, not K copies of
        the member) and a snapshot of the current weights: training this
        SeededModel further does not change it. ``combine`` and ``uncertainty``
        are as in ``SeedEnsemble``; ``ensemble.export(path)`` writes a SavedModel.

        Example:

        >>> import numpy as np
        >>> from keras_seeds.demo import digits_mlp
        >>> model = SeededModel(digits_mlp, replicas=2, seed=0)
        >>> x = np.zeros((3, 64), "float32")
        >>> ensemble = model.ensemble()
        >>> bool(np.allclose(ensemble.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6))
        True
        """
        from keras_seeds.ensemble import fused_ensemble

        if self._hidden.member is None:
            raise ValueError("SeededModel.ensemble: the replicas are not built yet; call "
                             "`fit`, `predict` or `build` first.")
        values = [np.asarray(v) for v in self._hidden.trainable + self._hidden.non_trainable]
        return fused_ensemble(self._hidden.member, values, self.replica_seeds, combine=combine,
                              uncertainty=uncertainty, name=name or f"{self.name}_ensemble")

    def predict_replicas(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Every replica's prediction, stacked: shape ``(K, samples, ...)``."""
        outputs = self._predict_batch_first(x, batch_size, verbose, steps, callbacks)
        return keras.tree.map_structure(lambda a: np.moveaxis(a, 1, 0), outputs)

    def _predict_batch_first(self, x, batch_size, verbose, steps, callbacks):
        sample_x, _, _ = peek(x, None, None)
        self._ensure_built(sample_x)
        return super().predict(x, batch_size=batch_size, verbose=verbose, steps=steps,
                               callbacks=callbacks)

    # ------------------------------------------------------------ replicas
    def get_replica_weights(self, index: int) -> list[np.ndarray]:
        """Replica ``index``'s variables (trainable, then non-trainable) as arrays."""
        index = self._check_index(index)
        return [np.asarray(v)[index]
                for v in self._hidden.trainable + self._hidden.non_trainable]

    def set_replica_weights(self, index: int, weights: Sequence[np.ndarray]) -> None:
        """Overwrites replica ``index``'s variables (as from :meth:`get_replica_weights`)."""
        index = self._check_index(index)
        variables = self._hidden.trainable + self._hidden.non_trainable
        if len(weights) != len(variables):
            raise ValueError(f"`weights` must hold {len(variables)} arrays (trainable, then "
                             f"non-trainable variables); received {len(weights)}.")
        for variable, value in zip(variables, weights):
            if tuple(np.shape(value)) != tuple(variable.shape[1:]):
                raise ValueError(f"`weights`: variable {variable.name} needs shape "
                                 f"{tuple(variable.shape[1:])}; received {np.shape(value)}.")
            full = np.array(variable)
            full[index] = value
            variable.assign(full)

    def replica(self, index: int) -> keras.Model:
        """A standalone Keras model with replica ``index``'s current weights.

        It shares nothing with this model (training one leaves the other
        unchanged) and is compiled with the same loss and metrics.
        """
        index = self._check_index(index)
        member = self._hidden.member
        if member is None:
            raise ValueError("`replica`: the replicas are not built yet; call `fit`, `predict` "
                             "or `build` first.")
        if self._hidden.build_fn is not None:
            model = self._new_member(index)
        else:
            model = keras.models.clone_model(member)
        if not model.built:
            model.build_from_config(member.get_build_config())
        variables = model.trainable_variables + model.non_trainable_variables
        for variable, value in zip(variables, self.get_replica_weights(index)):
            variable.assign(value)
        if self._hidden.compile_args is not None:
            model.compile(**_fresh_copy({**self._hidden.compile_args,
                                         "optimizer": self.optimizer}))
        return model

    def replica_history(self, history, name: str = "loss") -> np.ndarray:
        """``name`` per epoch and replica from a ``fit`` History: shape ``(epochs, K)``."""
        curves = replica_curves(getattr(history, "history", history))
        if name not in curves or curves[name].shape[1] != self.replicas:
            raise KeyError(f"`name`: no per-replica values for {name!r} in this history; "
                           f"known names: {sorted(curves)}.")
        return curves[name]

    def study(self, x=None, y=None, metric: str | None = None, *, test_data=None,
              history=None, combine: str = "mean", batch_size=None, sample_weight=None,
              higher_is_better: bool | None = None, name: str | None = None):
        """How much of the score on ``(x, y)`` is the seed: a :class:`~keras_seeds.SeedStudy`.

        Evaluates every replica and their ensemble on ``(x, y)`` with the
        compiled loss and metrics, and measures how differently the replicas
        predict (classifiers: disagreement and pairwise KL).

        Args:
            metric: the compiled metric that is the score (default the first
                metric after the loss, else ``"loss"``).
            test_data: ``(x_test, y_test)``: each replica's score on a second
                held-out set, for the validation-vs-test view.
            history: this model's ``fit`` History: the learning curves.
            combine: how the ensemble combines the replicas (as in ``predict``).
            higher_is_better: default from the metric's name (losses and
                errors are lower-is-better).
            name: a name for the setup (for ``compare`` and reports).

        Example:

        >>> import numpy as np
        >>> from keras_seeds.demo import digits_mlp
        >>> model = SeededModel(digits_mlp, replicas=3, seed=0)
        >>> model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> x, y = np.random.default_rng(0).random((40, 64)), np.arange(40) % 10
        >>> study = model.study(x, y)
        >>> study.metric, study.seeds.tolist() == model.replica_seeds, study.n
        ('accuracy', True, 3)
        """
        from keras_seeds.statistics import as_probabilities, member_diversity
        from keras_seeds.study import SeedStudy, is_higher_better

        if self._hidden.compile_args is None:
            raise ValueError("SeededModel.study: compile the model (and fit it) first; the "
                             "scores are its compiled loss and metrics.")
        combine = check_combine(combine)
        per_replica = self.evaluate_replicas(x, y, batch_size=batch_size,
                                             sample_weight=sample_weight)
        names = [name for name in self._metric_names() if name in per_replica]
        metric = metric if metric is not None else (names[1] if len(names) > 1 else names[0])
        if metric not in per_replica:
            raise ValueError(f"`metric`: {metric!r} is not one of this model's compiled "
                             f"metrics {names}.")
        ensemble = self.ensemble(combine=combine)
        ensemble.compile(**{k: v for k, v in _fresh_copy(self._hidden.compile_args).items()
                            if k in ("loss", "loss_weights", "metrics", "weighted_metrics")})
        ensemble_logs = ensemble.evaluate(x, y, batch_size=batch_size,
                                          sample_weight=sample_weight, verbose=0,
                                          return_dict=True)
        outputs = self.predict_replicas(x, batch_size=batch_size, verbose=0)
        diversity = None
        if isinstance(outputs, np.ndarray) and outputs.ndim == 3 and outputs.shape[-1] >= 2:
            diversity = member_diversity(as_probabilities(outputs))
        test_scores = None
        if test_data is not None:
            if not isinstance(test_data, (tuple, list)) or len(test_data) not in (2, 3):
                raise ValueError("`test_data` must be a tuple (x_test, y_test) or (x_test, "
                                 "y_test, sample_weight); received "
                                 f"{type(test_data).__name__} {np.shape(test_data)}.")
            x_test, y_test, w_test = keras.utils.unpack_x_y_sample_weight(tuple(test_data))
            test_scores = self.evaluate_replicas(x_test, y_test, batch_size=batch_size,
                                                 sample_weight=w_test)[metric]
        return SeedStudy(per_replica[metric], self.replica_seeds, metric=metric, name=name,
                         higher_is_better=(is_higher_better(metric) if higher_is_better is None
                                           else higher_is_better),
                         test_scores=test_scores,
                         curves=(None if history is None else
                                 replica_curves(getattr(history, "history", history))),
                         ensemble_score=float(ensemble_logs[metric]), diversity=diversity)

    def freeze_replica(self, index: int) -> None:
        """Stops training replica ``index``: its weights, statistics and optimizer
        state stay as they are while the other replicas train on."""
        self._set_frozen(self._hidden.frozen | {self._check_index(index)})

    def unfreeze_replicas(self) -> None:
        """Lets every replica train again."""
        self._set_frozen(frozenset())

    def _set_frozen(self, frozen) -> None:
        if frozen != self._hidden.frozen:
            self._hidden.frozen = frozenset(frozen)
            # The set of frozen replicas is baked into the traced train step.
            if getattr(self, "train_function", None) is not None:
                self.make_train_function(force=True)

    @property
    def frozen_replicas(self) -> list[int]:
        """Indices of the replicas :meth:`freeze_replica` has stopped."""
        return sorted(self._hidden.frozen)

    # ------------------------------------------------------------- saving
    def get_config(self):
        from keras.src.saving import serialization_lib

        member = self._hidden.member
        if member is None:
            raise ValueError("SeededModel.get_config: the replicas are not built yet; call "
                             "`fit`, `predict` or `build` before saving.")
        member_config = serialization_lib.serialize_keras_object(member)
        # The member is rebuilt as structure only; compiling is the SeededModel's.
        member_config.pop("compile_config", None)
        return {"name": self.name, "seeds": list(self.replica_seeds), "seed": self.seed,
                "member": member_config,
                "member_build_config": member.get_build_config()}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from keras.src.saving import serialization_lib

        member = serialization_lib.deserialize_keras_object(config["member"],
                                                            custom_objects=custom_objects)
        if not member.built and config.get("member_build_config"):
            member.build_from_config(config["member_build_config"])
        model = cls(seeds=config["seeds"], name=config.get("name"), _restore=member)
        model.seed = config.get("seed")
        return model


# ---------------------------------------------------------------- callbacks
class _ReplicaWatch(keras.callbacks.Callback):
    """Keeps the data order on fit's epoch number and reports diverged replicas."""

    def __init__(self, epoch_variable):
        super().__init__()
        self.epoch_variable = epoch_variable

    def on_epoch_begin(self, epoch, logs=None):
        if self.epoch_variable is not None:
            self.epoch_variable.assign(int(epoch))

    def on_epoch_end(self, epoch, logs=None):
        model = self.model
        for k in range(model.replicas):
            value = (logs or {}).get(replica_key("loss", k))
            if value is not None and not np.isfinite(value) and k not in model.diverged_replicas:
                model.diverged_replicas.append(k)
                warnings.warn(
                    f"SeededModel: replica {k} (seed {model.replica_seeds[k]}) diverged at epoch "
                    f"{epoch} (loss={value}); the others keep training and the mean logs "
                    "leave it out.", RuntimeWarning, stacklevel=2)


class _MeanProgbar(keras.callbacks.ProgbarLogger):
    """Keras' progress bar showing the replica means, not K columns per metric."""

    @staticmethod
    def _means(logs):
        return {k: v for k, v in (logs or {}).items() if "_replica_" not in k and k != "diverged"}

    def _update_progbar(self, batch, logs=None):
        super()._update_progbar(batch, self._means(logs))

    def _finalize_progbar(self, logs):
        super()._finalize_progbar(self._means(logs))


# ------------------------------------------------------------- helpers
def _fresh_copy(compile_args: dict) -> dict:
    """New loss/metric/optimizer objects with the same configuration (metric
    objects hold state, so two models must not share them)."""
    from keras.src.saving import serialization_lib

    try:
        return serialization_lib.deserialize_keras_object(
            serialization_lib.serialize_keras_object(compile_args))
    except (TypeError, ValueError):
        return dict(compile_args)


def _clip_per_replica(optimizer) -> None:
    """Makes ``clipnorm``/``global_clipnorm`` act on each replica's slice.

    Keras clips a stacked variable's gradient by the norm over all replicas;
    here replica k's gradients are clipped by replica k's own norm, with the
    same formulas Keras uses for one model.
    """
    from keras import ops

    def clip(grads):
        if optimizer.clipnorm and optimizer.clipnorm > 0:
            return [None if g is None else optimizer._clip_by_norm(g, axes=_inner_axes(g))
                    for g in grads]
        if optimizer.global_clipnorm and optimizer.global_clipnorm > 0:
            squares = [ops.sum(ops.square(g), axis=_inner_axes(g)) for g in grads if g is not None]
            norm = ops.sqrt(ops.sum(ops.stack(squares), axis=0))  # one norm per replica
            clip_norm = optimizer.global_clipnorm
            scale = clip_norm * ops.minimum(1.0 / norm, 1.0 / clip_norm) + (norm - norm)
            return [None if g is None else g * ops.reshape(scale, (-1,) + (1,) * (len(g.shape) - 1))
                    for g in grads]
        if optimizer.clipvalue and optimizer.clipvalue > 0:
            v = optimizer.clipvalue
            return [None if g is None else ops.clip(g, -v, v) for g in grads]
        return grads

    optimizer._clip_gradients = clip


def _inner_axes(tensor) -> list[int]:
    return list(range(1, len(tensor.shape)))


def _resolve_seeds(replicas, seed, seeds):
    if seeds is not None:
        if seed is not None:
            raise ValueError("Pass either `seed` (with `replicas`) or `seeds`, not both; "
                             f"received seed={seed!r} and seeds={seeds!r}.")
        seeds = check_seed_list(seeds)
        if replicas is not None and check_replicas(replicas) != len(seeds):
            raise ValueError(f"`replicas` must equal len(seeds) when both are given; received "
                             f"replicas={replicas} and {len(seeds)} seeds.")
        return None, seeds
    if replicas is None:
        raise ValueError("Pass `replicas` (the number of seed replicas) with `seed`, or the "
                         "replica seeds as `seeds=[...]`; received neither.")
    replicas = check_replicas(replicas)
    if seed is None:
        seed = draw_seed()
        print(f"keras-seeds: SeededModel drew master seed {seed}")
    seed = check_seed(seed)
    return seed, replica_seeds(seed, replicas)


def _variable_signature(model) -> list:
    return [(tuple(v.shape), str(v.dtype))
            for v in model.trainable_variables + model.non_trainable_variables]


def _check_same_shapes(members) -> None:
    reference = _variable_signature(members[0])
    for index, member in enumerate(members[1:], start=1):
        signature = _variable_signature(member)
        if signature != reference:
            raise ValueError(
                "`build_fn` returned models of different shapes: replica 0 has variables "
                f"{reference} but replica {index} has {signature}. Every replica must be "
                "the same architecture.")


def _same_values(a, b) -> bool:
    return all(np.array_equal(np.asarray(u), np.asarray(v)) for u, v in zip(a, b))


def _is_absent(value) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 0


def _placeholder(value):
    """``tf.vectorized_map`` cannot carry ``None``: an empty tuple stands for it."""
    return () if value is None else value


def _replica_axis_second(tensor):
    import tensorflow as tf

    rank = len(tensor.shape)
    return tf.transpose(tensor, [1, 0] + list(range(2, rank)))


def _plain(value):
    value = np.asarray(value)
    return float(value) if value.ndim == 0 else value
