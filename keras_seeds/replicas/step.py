"""Where the replicas are fused: one training, evaluation or prediction step
of all K replicas over the stacked variables, vectorized or unrolled
(:mod:`keras_seeds.replicas.fusing`), on TensorFlow or JAX.

Per replica the step is what Keras' own trainers run: the member called on its
inputs (its ``add_loss`` terms included), its ``compute_loss``
(compiled or overridden), its loss tracker and ``compute_metrics``. The
gradient of the sum of the K losses is, slice by slice, each replica's own
gradient; it is clipped per replica and one optimizer applies it to the
stacked variables. Element-wise optimizers then act on each replica exactly as
on a model of its own.
"""

from __future__ import annotations

import logging

import keras

from keras_seeds._internal import keras as private
from keras_seeds.replicas.clipping import Clipping, clip_per_replica, keras_clipping_off
from keras_seeds.replicas.fusing import backend, replica_map, time_calls
from keras_seeds.replicas.members import run_member
from keras_seeds.replicas.metrics import ReplicaMetrics, means
from keras_seeds.replicas.stacked import StackedVariables


class _QuietLoopFallback(logging.Filter):
    """Drops TensorFlow's notice that a random op is vectorized with a loop
    (expected: TF has no batched kernel for stateless random ops with one seed
    per replica)."""

    def filter(self, record):
        return "Using a while_loop for converting" not in record.getMessage()


def _quiet_loop_fallback() -> None:
    """Adds the filter to TensorFlow's logger once per process, when the first
    replica step is made (not at import: importing keras-seeds changes nothing)."""
    tensorflow_logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _QuietLoopFallback) for f in tensorflow_logger.filters):
        tensorflow_logger.addFilter(_QuietLoopFallback())


def check_vectorizable(member: keras.Model) -> None:
    """Refuses a member whose class overrides ``train_step`` or ``test_step``.

    Such a step updates the model's own variables with its own GradientTape and
    optimizer; it cannot run for K stacked replicas at once. What can:
    ``compute_loss`` (and ``metrics``) overrides, and ``add_loss`` in layers.
    """
    for method in ("train_step", "test_step"):
        if getattr(type(member), method) is not getattr(keras.Model, method):
            name = type(member).__name__
            raise TypeError(
                f"SeededModel cannot train {name}: it overrides `{method}`, which updates "
                "the model's own variables with its own GradientTape and optimizer, and "
                "K stacked replicas can only share a step that keras-seeds vectorizes. "
                f"Move the loss into `{name}.compute_loss(self, x, y, y_pred, "
                "sample_weight, training)` (and its trackers into the `metrics` property): "
                "SeededModel runs that for every replica. Or train one seed at a time with "
                "keras_seeds.SeedCallback. See docs/replicas.md, 'Custom training steps'.")


def _absent(value):
    """``tf.vectorized_map`` cannot carry ``None``: an empty tuple stands for it."""
    return () if value is None else value


def _present(value):
    return None if isinstance(value, tuple) and value == () else value


class ReplicaStep:
    """The steps of the replicas of ``stacked.member``, with ``metrics``' state,
    fused by ``strategy`` (:mod:`keras_seeds.replicas.fusing`).

    On TensorFlow the steps read and write the variables (:meth:`train`,
    :meth:`test`, :meth:`predict`); on JAX they are pure functions of Keras'
    step state (:meth:`train_state`, :meth:`test_state`, :meth:`predict_state`).
    Both run the same per-replica function."""

    def __init__(self, stacked: StackedVariables, metrics: ReplicaMetrics,
                 strategy: str = "vectorized"):
        check_vectorizable(stacked.member)
        if backend() == "tensorflow":
            private.register_bitcast_vectorization()
            _quiet_loop_fallback()
        self.stacked = stacked
        self.metrics = metrics
        self.strategy = strategy

    def _one_replica(self, training: bool, shared=None):
        """The function mapped over the replica axis: one replica's loss, new
        non-trainable and metric values, and logs. Its data is per replica, or
        ``shared`` ``(x, y, sample_weight)`` for all."""
        member = self.stacked.member

        def one_replica(args):
            if shared is None:
                tv, ntv, mv, x, y, sample_weight = args
            else:
                (tv, ntv, mv), (x, y, sample_weight) = args, shared
            y, sample_weight = _present(y), _present(sample_weight)
            y_pred, ntv, losses = run_member(member, tv, ntv, x, training)
            with private.losses_from_call(member, losses):
                loss, (_, ntv, mv) = member.stateless_compute_loss(
                    tv, ntv, mv, x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                    training=training)
            mv, logs = self.metrics.update(mv, loss, x, y, y_pred, sample_weight)
            return loss, ntv, mv, logs

        return one_replica

    def _training_pass(self, tv, ntv, mv, data):
        """Every replica's forward pass on its own batch ``data`` (``(K, batch,
        ...)`` leaves): ``(losses, non-trainable values, metric values, logs)``."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        return replica_map(self._one_replica(True),
                           (tv, ntv, mv, x, _absent(y), _absent(sample_weight)),
                           self.strategy)

    def _test_pass(self, tv, ntv, mv, data):
        """Every replica on the same batch ``data``: ``(metric values, mean logs)``."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        _, _, mv, logs = replica_map(self._one_replica(False, (x, y, sample_weight)),
                                     (tv, ntv, mv), self.strategy)
        return mv, means(logs, training=False)

    # ------------------------------------------------------------ TensorFlow
    def train(self, data, optimizer, clipping: Clipping, frozen: frozenset) -> dict:
        """One optimizer step of every replica on its own batch ``data``
        (``(K, batch, ...)`` leaves); frozen replicas keep all their state."""
        import tensorflow as tf

        guarded = self._guarded(optimizer) if frozen else []
        before = [tf.identity(v) for v in guarded]
        with tf.GradientTape() as tape:
            tv, ntv = self.stacked.tensors()
            losses, ntv, mv, logs = self._training_pass(tv, ntv, self.metrics.tensors(), data)
            # d(sum of the losses)/d(slice k) is replica k's own gradient.
            total = tf.reduce_sum(losses)
        grads = clip_per_replica(tape.gradient(total, self.stacked.trainable), clipping)
        with keras_clipping_off(optimizer):
            optimizer.apply(grads, self.stacked.trainable)
        for variable, value in zip(self.stacked.non_trainable, ntv):
            variable.assign(value)
        self.metrics.store(mv)
        if frozen:
            keep = self._kept(frozen)
            for variable, old in zip(guarded, before):
                variable.assign(_where_kept(keep, variable, old))
        return means(logs, training=True, losses=losses)

    def test(self, data) -> dict:
        """Every replica's loss and metrics on the same batch ``data``."""
        tv, ntv = self.stacked.tensors()
        mv, logs = self._test_pass(tv, ntv, self.metrics.tensors(), data)
        self.metrics.store(mv)
        return logs

    def predict(self, x):
        """Every replica's output, batch axis first: ``(batch, K, ...)`` (so that
        Keras concatenates predict's batches along the right axis)."""
        return keras.tree.map_structure(
            _replica_axis_second, self.stacked.outputs(x, strategy=self.strategy))

    # ------------------------------------------------------------------ JAX
    def train_state(self, state, data, optimizer, clipping: Clipping,
                    frozen: frozenset):
        """:meth:`train` as a pure function of Keras' JAX train state
        ``(trainable, non_trainable, optimizer, metric values)``: ``(logs, state)``."""
        import jax

        tv, ntv, ov, mv = state

        def total_loss(tv):
            losses, new_ntv, new_mv, logs = self._training_pass(tv, ntv, mv, data)
            # d(sum of the losses)/d(slice k) is replica k's own gradient.
            return keras.ops.sum(losses), (losses, new_ntv, new_mv, logs)

        (_, (losses, new_ntv, new_mv, logs)), grads = jax.value_and_grad(
            total_loss, has_aux=True)(tv)
        grads = clip_per_replica(grads, clipping)
        with keras_clipping_off(optimizer):
            new_tv, new_ov = optimizer.stateless_apply(ov, grads, tv)
        if frozen:
            keep = self._kept(frozen)
            slots = self._slot_flags(optimizer)
            new_tv = [_where_kept(keep, new, old) for new, old in zip(new_tv, tv)]
            new_ntv = [_where_kept(keep, new, old) for new, old in zip(new_ntv, ntv)]
            new_ov = [_where_kept(keep, new, old) if slot else new
                      for new, old, slot in zip(new_ov, ov, slots)]
        return means(logs, training=True, losses=losses), (new_tv, new_ntv, new_ov, new_mv)

    def test_state(self, state, data):
        """:meth:`test` on Keras' JAX test state ``(trainable, non_trainable,
        metric values)``: ``(logs, state)``."""
        tv, ntv, mv = state
        mv, logs = self._test_pass(tv, ntv, mv, data)
        return logs, (tv, ntv, mv)

    def predict_state(self, state, x):
        """:meth:`predict` on Keras' JAX predict state ``(trainable,
        non_trainable)``: ``(outputs, non_trainable)``."""
        outputs = self.stacked.outputs(x, values=state, strategy=self.strategy)
        return keras.tree.map_structure(_replica_axis_second, outputs), state[1]

    def probe(self, tv, ntv, mv, data) -> dict[str, tuple[float, float]]:
        """``{strategy: (compile seconds, seconds per step)}`` of a forward and
        backward pass (JAX) of the replicas whose values are given on their
        batch ``data``. The optimizer's update is left out: it is element-wise
        on the stacked variables, the same for both."""
        import jax

        timings = {}
        for strategy in ("vectorized", "unrolled"):
            probe = ReplicaStep(self.stacked, self.metrics, strategy)

            def total_loss(tv, ntv, mv, data, probe=probe):
                return keras.ops.sum(probe._training_pass(tv, ntv, mv, data)[0])

            timings[strategy] = time_calls(jax.jit(jax.grad(total_loss)), (tv, ntv, mv, data))
        return timings

    # ------------------------------------------------------------- freezing
    def _kept(self, frozen):
        return keras.ops.convert_to_tensor(
            [k not in frozen for k in range(self.stacked.replicas)])

    def _slot_flags(self, optimizer) -> list[bool]:
        """Which optimizer variables hold one slice per replica."""
        replicas = self.stacked.replicas
        return [len(v.shape) >= 1 and v.shape[0] == replicas and v is not optimizer.iterations
                for v in optimizer.variables]

    def _guarded(self, optimizer) -> list:
        """Everything one replica's update changes: what a frozen replica keeps."""
        slots = [v for v, slot in zip(optimizer.variables, self._slot_flags(optimizer)) if slot]
        return self.stacked.variables + slots


def _where_kept(keep, new, old):
    """``new`` in the replicas ``keep`` marks, ``old`` in the others."""
    mask = keras.ops.reshape(keep, (-1,) + (1,) * (len(new.shape) - 1))
    return keras.ops.where(mask, new, old)


def _replica_axis_second(tensor):
    rank = len(tensor.shape)
    return keras.ops.transpose(tensor, [1, 0] + list(range(2, rank)))
