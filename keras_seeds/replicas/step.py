"""Where the replicas are vectorized: one training, evaluation or prediction
step of all K replicas as a single ``tf.vectorized_map`` over the stacked
variables.

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

from keras_seeds import _keras_private as private
from keras_seeds.replicas.clipping import Clipping, clip_per_replica, keras_clipping_off
from keras_seeds.replicas.members import run_member
from keras_seeds.replicas.metrics import ReplicaMetrics, means
from keras_seeds.replicas.stacked import StackedVariables


class _QuietLoopFallback(logging.Filter):
    """Drops TensorFlow's notice that a random op is vectorized with a loop
    (expected: TF has no batched kernel for stateless random ops with one seed
    per replica)."""

    def filter(self, record):
        return "Using a while_loop for converting" not in record.getMessage()


logging.getLogger("tensorflow").addFilter(_QuietLoopFallback())


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
    """The steps of the replicas of ``stacked.member``, with ``metrics``' state."""

    def __init__(self, stacked: StackedVariables, metrics: ReplicaMetrics):
        check_vectorizable(stacked.member)
        private.register_bitcast_vectorization()
        self.stacked = stacked
        self.metrics = metrics

    def _one_replica(self, training: bool, shared=None):
        """The function ``tf.vectorized_map`` maps over the replica axis: one
        replica's loss, new non-trainable and metric values, and logs. Its data
        is per replica, or ``shared`` ``(x, y, sample_weight)`` for all."""
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

    def train(self, data, optimizer, clipping: Clipping, frozen: frozenset) -> dict:
        """One optimizer step of every replica on its own batch ``data``
        (``(K, batch, ...)`` leaves); frozen replicas keep all their state."""
        import tensorflow as tf

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        guarded = self._guarded(optimizer) if frozen else []
        before = [tf.identity(v) for v in guarded]
        with tf.GradientTape() as tape:
            tv, ntv = self.stacked.tensors()
            losses, ntv, mv, logs = tf.vectorized_map(
                self._one_replica(True),
                (tv, ntv, self.metrics.tensors(), x, _absent(y), _absent(sample_weight)))
            # d(sum of the losses)/d(slice k) is replica k's own gradient.
            total = tf.reduce_sum(losses)
        grads = clip_per_replica(tape.gradient(total, self.stacked.trainable), clipping)
        with keras_clipping_off(optimizer):
            optimizer.apply(grads, self.stacked.trainable)
        for variable, value in zip(self.stacked.non_trainable, ntv):
            variable.assign(value)
        self.metrics.store(mv)
        if frozen:
            keep = tf.constant([k not in frozen for k in range(self.stacked.replicas)])
            for variable, old in zip(guarded, before):
                mask = tf.reshape(keep, (-1,) + (1,) * (len(variable.shape) - 1))
                variable.assign(tf.where(mask, variable, old))
        return means(logs, training=True, losses=losses)

    def test(self, data) -> dict:
        """Every replica's loss and metrics on the same batch ``data``."""
        import tensorflow as tf

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        tv, ntv = self.stacked.tensors()
        _, _, mv, logs = tf.vectorized_map(self._one_replica(False, (x, y, sample_weight)),
                                           (tv, ntv, self.metrics.tensors()))
        self.metrics.store(mv)
        return means(logs, training=False)

    def predict(self, x):
        """Every replica's output, batch axis first: ``(batch, K, ...)`` (so that
        Keras concatenates predict's batches along the right axis)."""
        return keras.tree.map_structure(_replica_axis_second, self.stacked.outputs(x))

    def _guarded(self, optimizer) -> list:
        """Everything one replica's update changes: what a frozen replica keeps."""
        replicas = self.stacked.replicas
        slots = [v for v in optimizer.variables
                 if len(v.shape) >= 1 and v.shape[0] == replicas
                 and v is not optimizer.iterations]
        return self.stacked.variables + slots


def _replica_axis_second(tensor):
    rank = len(tensor.shape)
    return keras.ops.transpose(tensor, [1, 0] + list(range(2, rank)))
