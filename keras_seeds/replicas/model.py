"""SeededModel: K seed replicas of one Keras model trained in one fused ``fit``.

This is the part Keras sees; the work is done by parts with names:
``members`` (each replica's model, built under its seeds), ``stacked`` (their
variables with a leading replica axis), ``step`` (the vectorized step),
``metrics`` (per-replica metric state), ``clipping``, ``feed`` (per-replica
batches), ``callbacks`` (per-replica logs) and ``study`` (the bridge to the
statistics).

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
from typing import Any, Callable, Sequence

import keras
import numpy as np

from keras_seeds._validation import check_int, must_be
from keras_seeds.data_order.seeded_dataset import pack_arrays
from keras_seeds.records import fit_call
from keras_seeds.records.restorable import EngineState
from keras_seeds.replicas.callbacks import MeanProgbarLogger, ReplicaLogs
from keras_seeds.replicas.engine import ReplicaEngine, seed_record
from keras_seeds.replicas.ensemble import check_combine, combine_outputs
from keras_seeds.replicas.feed import (
    BATCH_KEY,
    arrays_for_fit,
    is_batch_number,
    peek,
    strings_as_tensors,
)
from keras_seeds.replicas.fusing import (
    FusingChoice,
    backend,
    check_backend,
)
from keras_seeds.replicas.members import MemberFactory
from keras_seeds.replicas.metrics import log_value, means
from keras_seeds.replicas.sources import check_source_arguments, first_batch, source_kind
from keras_seeds.replicas.stacked import StackedVariables
from keras_seeds.replicas.step import check_vectorizable
from keras_seeds.seeding.contract import (
    Seeds,
    check_replicas,
    check_seed,
    check_seed_list,
    draw_seed,
    replica_seeds,
)
from keras_seeds.statistics.metric_names import replica_curves, replica_key

_COMPILE_ARGUMENTS = ("loss", "loss_weights", "metrics", "weighted_metrics")
logger = logging.getLogger("keras_seeds")


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

    ``compile`` and ``fit`` take what Keras takes, and Keras callbacks work on
    the means. History and logs hold the mean over the replicas under the usual
    names (``loss``, ``val_accuracy``) and each replica's own value as
    ``<name>_replica_<i>`` (see :func:`~keras_seeds.replica_key` and
    :meth:`replica_history`). A replica whose loss becomes NaN or infinite is
    left out of the means, counted in the ``diverged`` log and listed in
    :attr:`diverged_replicas`; the others keep training, untouched.

    Args:
        build_fn: a function that returns a new, uncompiled Keras model; it is
            called once per replica under that replica's ``init`` seed. Or a
            Keras model used as a template: it is cloned per replica and each
            clone re-initialised from the replica's ``init`` seed (the
            template's own weights are not used). A model that overrides
            ``train_step`` is refused (``compute_loss`` overrides work).
        replicas: the number of replicas K (with ``seed``).
        seed: master seed; replica i gets the seed
            ``derive_seed(seed, 6, i)`` (prefix-stable: the first 4 of 8 are
            the 4 of 4). ``None`` draws one from OS entropy and records it.
        seeds: the replica seeds themselves, instead of ``seed``: ints, or
            :class:`~keras_seeds.Seeds` with sub-seeds pinned, to vary one
            source of randomness while others stay fixed
            (``[Seeds(s, data=7) for s in range(8)]``: eight weight
            initialisations and Dropout streams, one data order). The
            master seeds must differ.
        **kwargs: passed to ``keras.Model`` (``name``, ...).

    Example:

    >>> import numpy as np, keras, keras_seeds as ks
    >>> def build():
    ...     return keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
    ...                              keras.layers.Dropout(0.2), keras.layers.Dense(1)])
    >>> model = ks.SeededModel(build, replicas=3, seed=42)
    >>> model.replicas, model.replica_seeds[:2] == ks.SeededModel(build, replicas=2, seed=42).replica_seeds
    (3, True)
    >>> model.replica_sub_seeds(1)  # replica 1 is the run of this seed
    Seeds(1724870647)
    >>> model.compile(optimizer="adam", loss="mse")
    >>> x, y = np.random.rand(64, 4), np.random.rand(64, 1)
    >>> history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    >>> sorted(history.history)[:3]
    ['diverged', 'loss', 'loss_replica_0']
    >>> model.replica_history(history, "loss").shape  # (epochs, replicas)
    (2, 3)
    >>> model.predict_replicas(x, verbose=0).shape, model.predict(x, verbose=0).shape
    ((3, 64, 1), (64, 1))
    >>> {name: len(values) for name, values in model.evaluate_replicas(x, y).items()}
    {'loss': 3}

    One replica at a time: take it out as a plain Keras model, stop it while
    the others train on, put weights back:

    >>> solo = model.replica(2)  # a copy: training it leaves the model alone
    >>> all(np.array_equal(a, b) for a, b in zip(solo.get_weights(), model.get_replica_weights(2)))
    True
    >>> kept = model.get_replica_weights(1)
    >>> before = model.predict_replicas(x, verbose=0)
    >>> model.freeze_replica(0)
    >>> model.frozen_replicas
    [0]
    >>> _ = model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    >>> after = model.predict_replicas(x, verbose=0)
    >>> bool(np.array_equal(after[0], before[0])), bool(np.array_equal(after[1], before[1]))
    (True, False)
    >>> model.unfreeze_replicas()
    >>> model.set_replica_weights(1, kept)  # replica 1 back to its weights before that epoch
    >>> bool(np.array_equal(model.predict_replicas(x, verbose=0)[1], before[1]))
    True

    Pinned sub-seeds: replicas that differ in their weights but share one data order:

    >>> pinned = ks.SeededModel(build, seeds=[ks.Seeds(s, data=7) for s in (1, 2)])
    >>> pinned.replica_sub_seeds(0).data == pinned.replica_sub_seeds(1).data == 7
    True
    >>> pinned.replica_sub_seeds(0).init == ks.Seeds(1).init
    True
    """

    def __init__(self, build_fn: "Callable[[], keras.Model] | keras.Model | None" = None, *,
                 replicas: int | None = None, seed: int | None = None,
                 seeds: Sequence[int] | None = None, **kwargs):
        restore = kwargs.pop("_restore", None)
        check_backend()
        super().__init__(**kwargs)
        self.seed, self._sub_seeds = _resolve_seeds(replicas, seed, seeds)
        self.replica_seeds = [sub_seeds.master for sub_seeds in self._sub_seeds]
        self.diverged_replicas: list[int] = []
        if restore is not None:
            self._parts = ReplicaEngine(factory=None)
            self._set_members(restore, values=None)
            return
        self._parts = ReplicaEngine(factory=MemberFactory(build_fn))
        first = self._parts.factory.new(self.replica_sub_seeds(0))
        check_vectorizable(first)
        if first.built:
            self._build_replicas(first)
        else:
            self._parts.pending = first

    # ----------------------------------------------------------------- seeds
    @property
    def replicas(self) -> int:
        """The number of seed replicas K."""
        return len(self.replica_seeds)

    def replica_sub_seeds(self, index: int) -> Seeds:
        """The :class:`~keras_seeds.Seeds` of replica ``index``."""
        return self._sub_seeds[self._check_index(index)]

    def seed_record(self, shuffle: bool = True) -> dict:
        """What a run record (``SeedCallback``'s manifest, the audit) says of the
        replicas' seeds and data order.

        Example:

        >>> from keras_seeds.demo import digits_mlp
        >>> record = SeededModel(digits_mlp, seeds=[1, 2]).seed_record()
        >>> record["replica_seeds"], record["sub_seeds"][0]["master"]
        ([1, 2], 1)
        >>> record["control"]["data_order"].split(",")[0]
        'controlled: every replica its own order'
        """
        return {**seed_record(self._sub_seeds, shuffle, self._parts.feed), "fusing": self.fusing}

    def _check_index(self, index, name: str = "index") -> int:
        index = check_int(index, name)
        if not 0 <= index < self.replicas:
            raise must_be(name, f"in [0, {self.replicas - 1}] for a model with "
                                f"{self.replicas} replicas", index, IndexError)
        return index

    # ------------------------------------------------------------- building
    def _build_replicas(self, first: keras.Model, sample_x=None) -> None:
        built = self._parts.factory.build(self._sub_seeds, first, sample_x)
        self._set_members(built.architecture, built.values)

    def _set_members(self, architecture: keras.Model, values) -> None:
        parts = self._parts
        parts.stacked = StackedVariables.create(self, architecture, self.replicas, values)
        parts.pending = None
        self._attach_step()
        self.built = True

    def _attach_step(self) -> None:
        """Compiles the architecture with this model's loss and metrics and makes
        the per-replica metric state and step for it."""
        self._parts.attach_step(self.replicas, self.compile_arguments(fresh=True)
                                if self._parts.compile_arguments is not None else None)

    def _ensure_built(self, x) -> None:
        """Builds the replicas from a data sample when the member was unbuilt."""
        if self._parts.pending is not None:
            sample = keras.tree.map_structure(lambda a: a[:1], peek(x, None, None)[0])
            self._build_replicas(self._parts.pending, sample)

    def build(self, input_shape=None):
        if self._parts.stacked is None and input_shape is not None:
            sample = keras.tree.map_shape_structure(
                lambda shape: np.zeros((1,) + tuple(shape[1:]), "float32"), input_shape)
            self._ensure_built(sample)
        self.built = True

    @property
    def architecture(self) -> keras.Model:
        """The member model that describes one replica's computation (its own
        variables are not the replicas'; see :meth:`replica`).

        Example:

        >>> from keras_seeds.demo import digits_mlp
        >>> model = SeededModel(digits_mlp, seeds=[1, 2])
        >>> tuple(model.architecture.trainable_variables[0].shape), tuple(model.weights[0].shape)
        ((64, 64), (2, 64, 64))
        """
        if self._parts.stacked is None:
            raise ValueError("SeededModel: the replicas are not built yet; call `fit`, "
                             "`predict` or `build` first.")
        return self._parts.stacked.member

    # ------------------------------------------------------------- compiling
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True, strategy: str = "auto"):
        """Configures training like ``keras.Model.compile``; every replica gets
        the same loss and metrics, and its own optimizer state.

        ``clipnorm``, ``global_clipnorm`` and ``clipvalue`` act per replica.
        Optimizers that couple the values of a whole variable
        (``LossScaleOptimizer``, ``Lamb``, ``Muon``) are refused: they would
        mix the replicas. So is ``auto_scale_loss=True`` (the default) under
        the ``mixed_float16`` policy, where Keras would wrap the optimizer in a
        ``LossScaleOptimizer``: pass ``auto_scale_loss=False`` or use
        ``mixed_bfloat16``.

        Args:
            strategy: how the replicas are fused in one step:
                ``"vectorized"`` (one call over stacked variables),
                ``"unrolled"`` (K calls in one compiled step), ``"auto"`` (a
                fixed rule of the backend, the member and K: on JAX unrolled
                for a member with a convolution and at most 32 replicas,
                else vectorized; on TensorFlow vectorized) or ``"fastest"``
                (JAX: a short timed probe of both at the first ``fit`` takes
                the faster; the choice follows the machine's load, so another
                process may fuse, and so round, differently: not repeatable
                bit for bit unless the recorded strategy is passed).
                :attr:`fusing` says what was chosen and why, and the manifest
                records it; see :mod:`keras_seeds.replicas.fusing`.
            jit_compile: ``"auto"`` is XLA on JAX (deterministic on CPU; on GPU
                with ``XLA_FLAGS=--xla_gpu_deterministic_ops=true``) and off on
                TensorFlow, where XLA spends minutes on the per-replica random
                ops and is not deterministic on GPU.
        """
        fusing = FusingChoice.requesting(strategy)
        optimizer = keras.optimizers.get(optimizer)
        clipping = self._parts.check_optimizer(optimizer, auto_scale_loss, self.dtype_policy)
        if jit_compile == "auto":
            jit_compile = backend() == "jax"
        self._parts.fusing = fusing
        self._parts.compile_arguments = dict(loss=loss, loss_weights=loss_weights,
                                             metrics=metrics, weighted_metrics=weighted_metrics)
        self._parts.clipping = clipping
        # One loss scale would skip a step for all replicas when one overflows.
        super().compile(optimizer=optimizer, run_eagerly=run_eagerly,
                        steps_per_execution=steps_per_execution, jit_compile=jit_compile,
                        auto_scale_loss=False)
        self._compile_options = dict(run_eagerly=run_eagerly,
                                     steps_per_execution=steps_per_execution,
                                     jit_compile=jit_compile)
        if self._parts.stacked is not None:
            self._attach_step()

    def compile_arguments(self, fresh: bool = False) -> dict:
        """The loss and metric arguments given to :meth:`compile`; ``fresh=True``
        gives new loss and metric objects of the same configuration (metric
        objects hold state, so two models must not share them).

        Example:

        >>> from keras_seeds.demo import digits_mlp
        >>> model = SeededModel(digits_mlp, seeds=[1, 2])
        >>> model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> model.compile_arguments()["metrics"]
        ['accuracy']
        """
        arguments = dict(self._parts.compile_arguments or {})
        if not fresh:
            return arguments
        try:
            return keras.saving.deserialize_keras_object(
                keras.saving.serialize_keras_object(arguments))
        except (TypeError, ValueError):
            return arguments

    def get_compile_config(self):
        if self._parts.compile_arguments is None:
            return {}
        fusing = self._parts.fusing
        # A probe's choice is saved as the strategy: a reloaded model goes on
        # fusing as it trained, where probing again could choose otherwise.
        strategy = fusing.strategy if fusing.requested == "fastest" and fusing.strategy \
            else fusing.requested
        return keras.saving.serialize_keras_object(
            {"optimizer": self.optimizer, **self._parts.compile_arguments,
             **self._compile_options, "strategy": strategy})

    def compile_from_config(self, config):
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    # --------------------------------------------------------------- metrics
    @property
    def metrics(self):
        """The member's metric objects (loss tracker, compiled metrics): their
        names and directions are the replicas'; the values are per replica, in
        :meth:`replica_metric_results`."""
        return [] if self._parts.stacked is None else self._parts.stacked.member.metrics

    @property
    def metrics_variables(self):
        """The replicas' stacked metric state (what Keras' JAX trainer carries
        through its steps)."""
        metrics = self._parts.metrics if hasattr(self, "_parts") else None
        return list(metrics.variables) if metrics is not None and metrics.built else []

    @property
    def fusing(self) -> dict:
        """How the replicas are fused: the requested and the chosen strategy,
        the rule that chose it, whether another process would choose the same
        (``repeatable``: ``False`` only for ``fastest``), and the probe's
        seconds per step when ``fastest`` timed them.

        Example:

        >>> from keras_seeds.demo import digits_mlp
        >>> model = SeededModel(digits_mlp, seeds=[1, 2])
        >>> model.compile(loss="sparse_categorical_crossentropy", strategy="unrolled")
        >>> model.fusing["requested"], model.fusing["strategy"], model.fusing["repeatable"]
        ('unrolled', 'unrolled', True)
        """
        return self._parts.fusing.to_config()

    def reset_metrics(self):
        if self._parts.metrics is not None:
            self._parts.metrics.reset()

    def get_metrics_result(self):
        """The mean over the (non-diverged) replicas of each metric (what Keras
        reads at the end of an epoch)."""
        per_replica = self.replica_metric_results()
        return {name: log_value(value) for name, value in means(
            {k: keras.ops.convert_to_tensor(v) for k, v in per_replica.items()},
            training=False).items()}

    def replica_metric_results(self) -> dict[str, np.ndarray]:
        """Each replica's current metric results: ``{name: (K,) array}`` (after
        ``fit``, the last epoch's training values; after ``evaluate``, its values).

        Example:

        >>> import numpy as np
        >>> from keras_seeds.demo import digits_mlp
        >>> model = SeededModel(digits_mlp, seeds=[1, 2])
        >>> model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> _ = model.evaluate(np.zeros((4, 64)), np.zeros(4), verbose=0)
        >>> {name: values.shape for name, values in model.replica_metric_results().items()}
        {'loss': (2,), 'accuracy': (2,)}
        """
        metrics = self._parts.metrics
        return {} if metrics is None else metrics.results()

    def higher_is_better(self, name: str) -> bool:
        """Whether larger values of the logged metric ``name`` are better: the
        compiled metric's own direction where Keras declares one, else by name
        (the rule :class:`~keras_seeds.ReplicaEarlyStopping` and :meth:`study` use).

        Example:

        >>> import numpy as np
        >>> from keras_seeds.demo import digits_mlp
        >>> model = SeededModel(digits_mlp, seeds=[1, 2])
        >>> model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> _ = model.evaluate(np.zeros((4, 64)), np.zeros(4), verbose=0)
        >>> model.higher_is_better("val_accuracy"), model.higher_is_better("val_loss")
        (True, False)
        """
        if self._parts.metrics is None:
            from keras_seeds.statistics.metric_names import is_higher_better

            return is_higher_better(name)
        return self._parts.metrics.higher_is_better(name)

    # -------------------------------------------------------------- stepping
    # Keras' TensorFlow trainer calls a step with ``data``; its JAX trainer with
    # ``(state, data)`` and expects ``(outputs, state)`` back.
    def train_step(self, *args):
        parts = self._parts
        if len(args) == 2:
            return parts.step.train_state(*args, self.optimizer, parts.clipping, parts.frozen)
        data = args[0]
        if is_batch_number(data):
            data = parts.feed.batch(data[BATCH_KEY])
        else:  # a stream's batch, or a PyDataset's replica batches
            data = parts.feed.step_data(data)
        return parts.step.train(data, self.optimizer, parts.clipping, parts.frozen)

    def test_step(self, *args):
        if len(args) == 2:
            return self._parts.step.test_state(*args)
        return self._parts.step.test(args[0])

    def predict_step(self, *args):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(args[-1])
        if len(args) == 2:
            return self._parts.step.predict_state(args[0], x)
        return self._parts.step.predict(x)

    def make_train_function(self, force=False):
        """On JAX: Keras' compiled step, fed each step with the replicas' batch
        from the data feed (Keras' own iterator only counts the steps)."""
        if backend() != "jax":
            return super().make_train_function(force)
        if self.train_function is None or force:
            self.train_function = self._parts.jax_train_function(
                self.train_step, self.run_eagerly, self.steps_per_execution)
        return self.train_function

    def call(self, inputs, training=False):
        """The ensemble output: the mean of the replicas' outputs."""
        return keras.tree.map_structure(
            lambda t: keras.ops.mean(t, axis=0),
            self._parts.stacked.outputs(inputs, training=bool(training)))

    def compute_output_spec(self, inputs, training=False):
        return self.architecture.compute_output_spec(inputs)

    # --------------------------------------------------------------- fitting
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1, *, replica_rows=None,
            data_order=None):
        """Trains all replicas; takes ``keras.Model.fit``'s arguments.

        Arrays (and a finite ``tf.data.Dataset``, read into memory once; its
        elements are batches, as in Keras) are batched per replica: each epoch,
        replica i's batches follow its own order from its ``data`` sub-seed
        (``shuffle=False`` keeps the given order for all). ``validation_split``
        takes the last fraction of the arrays, like Keras.

        A ``keras.utils.PyDataset`` with a length is read batch by batch, each
        replica in its own order of the batches; a stream (a generator, an
        infinite ``tf.data.Dataset``, or a dataset or ``PyDataset`` with
        ``data_order="shared"``) is read once per step, the batch shared by
        every replica, and the records say so. ``data_order``: ``None`` (the
        source decides), ``"per_replica"`` (refused for a stream) or
        ``"shared"``. What "its own order" means for each source:
        docs/replicas.md, "Data".

        ``replica_rows``, an int array ``(replicas, m)``, trains replica k on
        rows ``replica_rows[k]`` of the arrays only (its own training split, or
        a bootstrap sample): its passes are over those ``m`` rows, in its own
        order. ``validation_data`` is still every replica's.

        Example (replica 1 never sees the first 32 rows):

        >>> import numpy as np
        >>> from keras_seeds.demo import digits_mlp
        >>> model = SeededModel(digits_mlp, seeds=[1, 2])
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        >>> x, y = np.random.rand(64, 64).astype("float32"), np.arange(64) % 10
        >>> rows = np.array([np.arange(0, 32), np.arange(32, 64)])
        >>> model.fit(x, y, epochs=1, batch_size=8, verbose=0, replica_rows=rows).history["loss"][0] > 0
        True

        A generator is a stream: each step's batch is every replica's.

        >>> def batches():
        ...     while True:
        ...         yield x[:8], y[:8]
        >>> _ = model.fit(batches(), steps_per_epoch=2, verbose=0)
        >>> model.seed_record()["control"]["data_order"].split(":")[0]
        'shared'
        """
        arguments = {name: value for name, value in locals().items() if name != "self"}
        self._check_compiled("fit")
        kind = source_kind(x, data_order)
        if kind == "arrays":
            data, batch_size, validation_data, replica_rows = arrays_for_fit(
                x, y, sample_weight, batch_size, validation_split, validation_data,
                class_weight, replica_rows, self.replicas)
            sample = data
        else:
            check_source_arguments(kind, y, sample_weight, validation_split, class_weight,
                                   replica_rows)
            x, sample = first_batch(x)
        self._ensure_built(sample[0])
        self._parts.metrics.build(peek(*sample))
        if not self.optimizer.built:
            # Slots made inside the traced step would make TensorFlow trace it twice.
            self.optimizer.build(self.trainable_variables)
        seeds = [self.replica_sub_seeds(k).data for k in range(self.replicas)]
        if kind == "arrays":
            feed, replaced = self._parts.feed_for(pack_arrays(*data), seeds, batch_size,
                                                  bool(shuffle), initial_epoch, replica_rows)
        else:
            feed, replaced = self._parts.source_feed(kind, x, seeds, bool(shuffle),
                                                     steps_per_epoch, self.replicas)
        if replaced:
            self.train_function = None  # its graph reads the old feed's variables
        if self._parts.choose_strategy(feed, self.replicas):
            self.train_function = self.test_function = self.predict_function = None
        internal = [ReplicaLogs(feed.pass_index if steps_per_epoch is None else None)]
        if verbose != 0:
            internal.append(MeanProgbarLogger())
        # Callbacks that record fit's data (SeedCallback) see what was passed
        # here, not the batch numbers Keras iterates over.
        with fit_call.registered(self, arguments):
            return super().fit(
                **feed.fit_input(steps_per_epoch), epochs=epochs,
                verbose=verbose, callbacks=internal + list(callbacks or []),
                validation_data=strings_as_tensors(validation_data),
                shuffle=False, initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                validation_steps=validation_steps,
                validation_batch_size=validation_batch_size or batch_size,
                validation_freq=validation_freq)

    def _check_compiled(self, method: str) -> None:
        if self._parts.compile_arguments is None:
            raise ValueError(f"You must call `compile()` before calling `{method}()`.")

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False, **kwargs):
        """Evaluates every replica on the same data.

        Returns what ``keras.Model.evaluate`` returns, for the mean over the
        replicas (``return_dict=True`` adds every replica's value under
        ``<name>_replica_<i>``). :meth:`evaluate_replicas` groups them by metric.
        """
        self._check_compiled("evaluate")
        if not isinstance(callbacks, keras.callbacks.CallbackList):
            sample = peek(x, y, sample_weight)
            self._ensure_built(sample[0])
            self._parts.metrics.build(sample)
            if verbose != 0:
                callbacks = [MeanProgbarLogger()] + list(callbacks or [])
        logs = super().evaluate(strings_as_tensors(x), y, batch_size=batch_size,
                                verbose=verbose, sample_weight=sample_weight, steps=steps,
                                callbacks=callbacks, return_dict=True, **kwargs)
        logs = {name: log_value(value) for name, value in logs.items()}
        for name, values in self.replica_metric_results().items():
            for k, value in enumerate(values):
                logs[replica_key(name, k)] = log_value(value)
        if return_dict:
            return logs
        names = self._parts.metrics.names()
        return logs[names[0]] if len(names) == 1 else [logs[name] for name in names]

    def evaluate_replicas(self, x=None, y=None, batch_size=None, sample_weight=None,
                          steps=None, verbose=0) -> dict[str, list[float]]:
        """Each replica's loss and metrics on ``(x, y)``: ``{metric: [K values]}``.

        Example: see :class:`SeededModel`.
        """
        self.evaluate(x, y, batch_size=batch_size, sample_weight=sample_weight, steps=steps,
                      verbose=verbose, return_dict=True)
        return {name: [log_value(v) for v in values]
                for name, values in self.replica_metric_results().items()}

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

    def predict_replicas(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Every replica's prediction, stacked: shape ``(K, samples, ...)``."""
        outputs = self._predict_batch_first(x, batch_size, verbose, steps, callbacks)
        return keras.tree.map_structure(lambda a: np.moveaxis(a, 1, 0), outputs)

    def _predict_batch_first(self, x, batch_size, verbose, steps, callbacks):
        self._ensure_built(x)
        if verbose != 0 and not isinstance(callbacks, keras.callbacks.CallbackList):
            callbacks = [MeanProgbarLogger()] + list(callbacks or [])
        return super().predict(strings_as_tensors(x), batch_size=batch_size, verbose=verbose,
                               steps=steps, callbacks=callbacks)

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
        from keras_seeds.replicas.ensemble import fused_ensemble

        self.architecture  # noqa: B018 - raises if the replicas are not built
        return fused_ensemble(self._parts.stacked, self.replica_seeds, combine=combine,
                              uncertainty=uncertainty, name=name or f"{self.name}_ensemble")

    # ------------------------------------------------------------ replicas
    def get_replica_weights(self, index: int) -> list[np.ndarray]:
        """Replica ``index``'s variables (trainable, then non-trainable) as arrays."""
        index = self._check_index(index)
        self.architecture  # noqa: B018 - raises if the replicas are not built
        return self._parts.stacked.read(index)

    def set_replica_weights(self, index: int, weights: Sequence[np.ndarray]) -> None:
        """Overwrites replica ``index``'s variables (as from :meth:`get_replica_weights`)."""
        self._parts.stacked.write(self._check_index(index), weights)

    def replica(self, index: int) -> keras.Model:
        """A standalone Keras model with replica ``index``'s current weights.

        It shares nothing with this model (training one leaves the other
        unchanged) and is compiled with the same loss and metrics.
        """
        index = self._check_index(index)
        self.architecture  # noqa: B018 - raises if the replicas are not built
        compiled = self._parts.compile_arguments is not None
        return self._parts.standalone_replica(
            self.replica_sub_seeds(index), self.get_replica_weights(index),
            self.optimizer if compiled else None,
            self.compile_arguments(fresh=True) if compiled else None)

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
            higher_is_better: default from the metric (its compiled direction,
                else its name: losses and errors are lower-is-better).
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
        from keras_seeds.replicas.to_study import study_of

        return study_of(self, x, y, metric, test_data=test_data, history=history,
                        combine=combine, batch_size=batch_size, sample_weight=sample_weight,
                        higher_is_better=higher_is_better, name=name)

    def freeze_replica(self, index: int) -> None:
        """Stops training replica ``index``: its weights, statistics and optimizer
        state stay as they are while the other replicas train on."""
        self._set_frozen(self._parts.frozen | {self._check_index(index)})

    def unfreeze_replicas(self) -> None:
        """Lets every replica train again."""
        self._set_frozen(frozenset())

    def _set_frozen(self, frozen) -> None:
        if frozen != self._parts.frozen:
            self._parts.frozen = frozenset(frozen)
            # The set of frozen replicas is baked into the traced train step.
            if getattr(self, "train_function", None) is not None:
                self.make_train_function(force=True)

    @property
    def frozen_replicas(self) -> list[int]:
        """Indices of the replicas :meth:`freeze_replica` has stopped."""
        return sorted(self._parts.frozen)

    # ------------------------------------------------------------ resuming
    def checkpoint_identity(self) -> dict[str, tuple[Any, str]]:
        """What a checkpoint of this model's run must match besides its
        variables (:class:`~keras_seeds.records.restorable.RestorableEngine`):
        the replica seeds, and how the replicas are fused, since the
        strategies sum floats in different orders and a resume fused otherwise
        would not continue the same run.

        Example:

        >>> from keras_seeds.demo import digits_mlp
        >>> SeededModel(digits_mlp, seeds=[1, 2]).checkpoint_identity()["seed"]
        ({'replicas': [1, 2]}, 'replica seeds [1, 2]')
        """
        strategy = self.fusing["strategy"]
        seeds = list(self.replica_seeds)
        return {"seed": ({"replicas": seeds}, f"replica seeds {seeds}"),
                "fusing": (strategy, f"the replicas fused {strategy}")}

    def engine_state(self) -> EngineState:
        """What the replica engine holds besides Keras' model, optimizer and
        metric variables, for :class:`~keras_seeds.BackupAndRestore`: each
        replica's metric state and batch order within the epoch, the feed's pass
        counter, and which replicas diverged or are frozen.

        Example:

        >>> import numpy as np
        >>> from keras_seeds.demo import digits_mlp
        >>> model = SeededModel(digits_mlp, seeds=[1, 2])
        >>> model.compile(loss="sparse_categorical_crossentropy")
        >>> _ = model.fit(np.zeros((8, 64)), np.zeros(8), epochs=1, verbose=0)
        >>> model.freeze_replica(1)
        >>> state = model.engine_state()
        >>> sorted(state.variables), state.frozen
        (['feed_order', 'feed_pass', 'metric_0', 'metric_1'], [1])
        """
        return EngineState(self._parts.state_variables(), list(self.diverged_replicas),
                           self.frozen_replicas)

    def restore_engine_state(self, values: dict[str, np.ndarray], diverged: Sequence[int],
                             frozen: Sequence[int]) -> None:
        """Puts back what :meth:`engine_state` read (``values``: its variables'
        values by name); a name this model does not hold is a ``ValueError``.

        Example (what :class:`~keras_seeds.BackupAndRestore` does for a job
        that restarts):

        >>> from keras_seeds.demo import digits_mlp
        >>> model = SeededModel(digits_mlp, seeds=[1, 2, 3])
        >>> model.freeze_replica(2)
        >>> state = model.engine_state()
        >>> values = {name: variable.numpy() for name, variable in state.variables.items()}
        >>> restarted = SeededModel(digits_mlp, seeds=[1, 2, 3])
        >>> restarted.restore_engine_state(values, state.diverged, state.frozen)
        >>> restarted.frozen_replicas
        [2]
        """
        self._parts.restore_variables(values)
        self.diverged_replicas = [self._check_index(k, "diverged") for k in diverged]
        self._set_frozen(frozenset(self._check_index(k, "frozen") for k in frozen))

    # ------------------------------------------------------------- saving
    def get_config(self):
        stacked = self._parts.stacked
        if stacked is None:
            raise ValueError("SeededModel.get_config: the replicas are not built yet; call "
                             "`fit`, `predict` or `build` before saving.")
        pinned = {"pinned": [seeds.pinned for seeds in self._sub_seeds]} if any(
            seeds.pinned for seeds in self._sub_seeds) else {}
        return {"name": self.name, "seeds": list(self.replica_seeds), "seed": self.seed,
                **pinned, **stacked.member_config()}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        member = StackedVariables.member_from_config(config, custom_objects)
        pinned = config.get("pinned") or [{}] * len(config["seeds"])
        model = cls(seeds=[Seeds(seed, **pins) for seed, pins in zip(config["seeds"], pinned)],
                    name=config.get("name"), _restore=member)
        model.seed = config.get("seed")
        return model


def _resolve_seeds(replicas, seed, seeds):
    if seeds is not None:
        if seed is not None:
            raise ValueError("Pass either `seed` (with `replicas`) or `seeds`, not both; "
                             f"received seed={seed!r} and seeds={seeds!r}.")
        if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
            check_seed_list(seeds)  # the one message for what is not a list
        seeds = list(seeds)
        # A Seeds entry is a run with some sub-seeds pinned; its master seed
        # names it, so masters must differ as plain seeds must.
        check_seed_list([s.master if isinstance(s, Seeds) else s for s in seeds])
        if replicas is not None and check_replicas(replicas) != len(seeds):
            raise ValueError(f"`replicas` must equal len(seeds) when both are given; received "
                             f"replicas={replicas} and {len(seeds)} seeds.")
        return None, [Seeds.coerce(s) for s in seeds]
    if replicas is None:
        raise ValueError("Pass `replicas` (the number of seed replicas) with `seed`, or the "
                         "replica seeds as `seeds=[...]`; received neither.")
    replicas = check_replicas(replicas)
    if seed is None:
        seed = draw_seed()
        print(f"keras-seeds: SeededModel drew master seed {seed}")
    seed = check_seed(seed)
    return seed, [Seeds(s) for s in replica_seeds(seed, replicas)]
