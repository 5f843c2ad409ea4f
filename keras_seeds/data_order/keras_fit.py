"""Where the order of Keras' own ``fit(x, y, shuffle=True)`` on arrays is
decided while a :class:`~keras_seeds.SeedCallback` trains.

Keras draws each epoch's permutation of array data inside a ``tf.data``
pipeline it builds before any callback runs. On Keras 3.15, with a global seed
set, that permutation is the same every epoch; Keras 3.16 keys it by the epoch
alone, the same for every seed. Under a ``SeedCallback`` the pass ``p`` over
the arrays is instead ``order.pass_order(n, [data seed, p])``: a new order
every epoch, the same in every process, another one for another data seed,
and the very order :func:`~keras_seeds.seeded_dataset` and a ``SeededModel``
replica with that data seed see. The first pass of a fit is its first epoch
(``initial_epoch`` continues the sequence; with ``steps_per_epoch``, where
Keras keeps one iterator across epochs, the passes are counted from there).
Outside a ``SeedCallback``'s training (a new ``fit`` gives the permutation back
to Keras, even after a training an exception ended), Keras draws its own
permutation as before.

The state lives in three TensorFlow variables that the pipeline reads when it
draws a pass, so that a callback can set them after Keras built the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keras_seeds.data_order import order


@dataclass
class _State:
    active: Any  # tf.Variable(bool): a SeedCallback's training is running
    data_seed: Any  # tf.Variable(int64)
    next_pass: Any  # tf.Variable(int64): the pass the next draw gets


_state: _State | None = None


def _variables() -> _State:
    global _state
    if _state is None:
        import tensorflow as tf

        with tf.init_scope():
            _state = _State(tf.Variable(False, trainable=False),
                            tf.Variable(0, dtype=tf.int64, trainable=False),
                            tf.Variable(0, dtype=tf.int64, trainable=False))
    return _state


def _seeded_shuffle(indices, keras_shuffle):
    """The permutation Keras' pipeline draws for a pass over ``indices``
    (``range(n)``): the seeded pass order while a SeedCallback trains."""
    import tensorflow as tf

    state = _variables()

    def seeded():
        pass_index = state.next_pass.assign_add(1) - 1
        num_samples = tf.shape(indices, out_type=tf.int64)[0]
        seed = tf.stack([state.data_seed.read_value(), pass_index])
        return tf.cast(order.pass_order(num_samples, seed), indices.dtype)

    return tf.cond(state.active, seeded, lambda: keras_shuffle(indices))


def install() -> str | None:
    """Routes the permutation of the pipelines Keras builds from now on
    through here (Keras' own while no SeedCallback trains). Keras builds a
    fit's pipeline before any callback hook, so a ``SeedCallback`` installs
    this when it is constructed. Returns how Keras' shuffle is reached, or
    ``None`` where this Keras cannot be."""
    from keras_seeds._internal import keras as private

    # A new pipeline is a new fit: Keras' own order until its SeedCallback (if
    # any) takes over, even after a SeedCallback fit that an exception ended.
    return private.install_array_shuffle(_seeded_shuffle, on_new_pipeline=release)


def take_over(data_seed: int) -> str | None:
    """Makes Keras' array passes use ``data_seed``'s orders until
    :func:`release`; returns how Keras' shuffle is reached, or ``None`` where
    this Keras cannot be (then nothing changes)."""
    how = install()
    if how is not None:
        state = _variables()
        state.data_seed.assign(int(data_seed))
        state.next_pass.assign(0)
        state.active.assign(True)
    return how


def start_at(pass_index: int) -> None:
    """The next pass Keras draws is pass ``pass_index`` (a fit's first epoch)."""
    _variables().next_pass.assign(int(pass_index))


def next_pass() -> int:
    """The pass the next draw gets: how many passes the sequence has used."""
    return int(_variables().next_pass.numpy())


def release() -> None:
    """Gives the permutation back to Keras."""
    if _state is not None:
        _state.active.assign(False)


def state() -> dict | None:
    """The routed order's state (``None`` if nothing was ever routed): what a
    resumed run needs to continue the pass sequence."""
    if _state is None:
        return None
    return {"active": bool(_state.active.numpy()), "data_seed": int(_state.data_seed.numpy()),
            "next_pass": int(_state.next_pass.numpy())}


def set_state(values: dict) -> None:
    """Puts back what :func:`state` returned."""
    variables = _variables()
    variables.active.assign(bool(values["active"]))
    variables.data_seed.assign(int(values["data_seed"]))
    variables.next_pass.assign(int(values["next_pass"]))
