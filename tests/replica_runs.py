"""Fused replicas against the solo runs of their seeds: the harness of every
replica-equality test (and of ``tests/scripts/replica_drift.py``).

Replica i of a fused fit shares with ``SeededModel(seeds=[s_i])`` its initial
weights, batch order and random draws bit for bit, and its arithmetic up to
floating-point reassociation, which training amplifies by an amount that
depends on the CPU. So:

- what is exact is compared exactly (probes record batches and masks);
- after one step, weights and optimizer state agree within a few float32 ulps;
- after a whole training, replica i's outputs on held-out inputs are within
  ``REPLICA_SOLO_TOLERANCE`` (0.1) of the distance from its solo run to the
  nearest other seed's solo run (:func:`keras_seeds.statistics.replica_solo_gap`).
  No bound on weights after training: that would measure the host.
"""

import contextlib

import keras
import numpy as np

import keras_seeds as ks
from keras_seeds.demo import digits_cnn, load_digits_split
from keras_seeds.statistics import REPLICA_SOLO_TOLERANCE, replica_solo_gap

SEEDS = [11, 22, 33, 44]

# Float32 units in the last place of a variable's scale that one optimizer step
# may differ by: the fused kernels sum a gradient in another order than the solo
# kernels. Measured at most 3 (weights, momentum) and 4 (Adam's velocity: the
# square of the gradient doubles its relative error) with the default and with
# oneDNN's SSE4.1 kernels (python tests/scripts/replica_drift.py --one-step); a
# clipping norm shared across replicas, a bug, moves the step by 8e6 ulps.
ONE_STEP_ULPS = 8


def digits(kind="mlp"):
    """The digits split 80/20: ``(x_train, y_train), (x_held_out, y_held_out)``,
    images shaped ``(8, 8, 1)`` for ``kind="cnn"``."""
    (x, y), (x_held, y_held) = load_digits_split(0)
    if kind == "cnn":
        x, x_held = x.reshape(-1, 8, 8, 1), x_held.reshape(-1, 8, 8, 1)
    return (x, y), (x_held, y_held)


CLASSIFIER = {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}


def fit(build_fn, seeds, data, *, epochs, batch_size=32, optimizer=None, steps_per_epoch=None,
        before_fit=None, callbacks=None, compile_arguments=None):
    """A SeededModel of ``seeds`` compiled with Adam (or ``optimizer()``) and
    the loss and metrics of ``compile_arguments`` (default: a classifier's),
    trained on ``data = (x, y)`` or ``(x,)``; ``before_fit(model)`` runs after
    building."""
    model = ks.SeededModel(build_fn, seeds=seeds)
    model.compile(optimizer=optimizer() if optimizer else "adam",
                  **(CLASSIFIER if compile_arguments is None else compile_arguments))
    if before_fit is not None:
        before_fit(model)
    model.fit(*data, epochs=epochs, batch_size=batch_size, steps_per_epoch=steps_per_epoch,
              callbacks=callbacks, verbose=0)
    return model


def outputs(model, x):
    """Every replica's outputs on ``x``: ``(K, n, ...)`` (its first output if
    the model has several)."""
    return keras.tree.flatten(model.predict_replicas(x, batch_size=256, verbose=0))[0]


def solo_outputs(build_fn, seeds, data, x_held, **fit_kwargs):
    """Each seed trained alone, its outputs on ``x_held``: ``(K, n, ...)``."""
    return np.stack([outputs(fit(build_fn, [seed], data, **fit_kwargs), x_held)[0]
                     for seed in seeds])


def assert_replicas_are_solo_runs(fused_outputs, solo):
    """The end-to-end criterion: every replica within the tolerance."""
    gap = replica_solo_gap(fused_outputs, solo)
    assert (gap <= REPLICA_SOLO_TOLERANCE).all(), (
        f"replica outputs are {gap.tolist()} of the seed-to-seed distance from their "
        f"solo runs; at most {REPLICA_SOLO_TOLERANCE} is reassociation")
    return gap


def optimizer_slots(model, index):
    """Replica ``index``'s optimizer slots (per trainable variable, in Keras'
    order: Adam's momentum then velocity) as arrays."""
    return [np.asarray(v)[index] for v in model.optimizer.variables
            if len(v.shape) >= 1 and v.shape[0] == model.replicas]


def assert_within_ulps(got, want, ulps=ONE_STEP_ULPS, what="variable"):
    """Each array in ``got`` equals its ``want`` within ``ulps`` float32 units
    in the last place of the array's scale (its largest magnitude)."""
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        scale = np.abs(b).max(initial=0.0)
        bound = ulps * float(np.spacing(np.float32(scale)))
        diff = np.abs(a - b).max(initial=0.0)
        assert diff <= bound, f"{what} {i}: max |diff| {diff:.3g} > {ulps} ulps of {scale:.3g}"


# ------------------------------------------------------------ injected bugs
# Each reproduces a bug class the criterion must reject: a replica trained on
# another replica's data order, on another seed's noise stream, or on state
# shared between members.
@contextlib.contextmanager
def batch_orders_rolled():
    """Bug: replica k is fed replica k-1's batch order (every replica affected)."""
    import tensorflow as tf

    from keras_seeds.data_order import order

    real = order.replica_orders
    order.replica_orders = lambda *args, **kwargs: tf.roll(real(*args, **kwargs), 1, axis=0)
    try:
        yield
    finally:
        order.replica_orders = real


def with_dropout_state_of(build_fn, donor_seed, index):
    """Bug (a ``before_fit``): replica ``index`` gets seed ``donor_seed``'s
    SeedGenerator states (its Dropout stream), everything else its own."""
    def swap(model):
        donor = ks.SeededModel(build_fn, seeds=[donor_seed]).get_replica_weights(0)
        own = model.get_replica_weights(index)
        assert any(w.dtype.kind in "iu" for w in own), "the model has no SeedGenerator"
        model.set_replica_weights(index, [d if w.dtype.kind in "iu" else w
                                          for w, d in zip(own, donor)])
    return swap


def augmented_cnn(augmentation=None):
    """``demo.digits_cnn`` behind keras-io's ViT augmentation (RandomFlip,
    RandomRotation, RandomZoom); ``augmentation`` given: that Sequential,
    shared by every model built with it."""
    if augmentation is None:
        augmentation = augmentation_layers()
    return keras.Sequential([keras.Input((8, 8, 1)), augmentation, *digits_cnn().layers])


def augmentation_layers():
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal"),
        keras.layers.RandomRotation(factor=0.02),
        keras.layers.RandomZoom(height_factor=0.2, width_factor=0.2),
    ], name="data_augmentation")


# keras-io's ViT keeps its augmentation Sequential at module level, so every
# member built by this function shares its layers and SeedGenerators.
SHARED_AUGMENTATION = augmentation_layers()


def cnn_with_shared_augmentation():
    return augmented_cnn(SHARED_AUGMENTATION)


def with_augmentation_state_of_last_replica(model):
    """Bug (a ``before_fit``): every replica gets the last replica's augmentation
    SeedGenerator states, as when members sharing augmentation layers were
    stacked after the last one had re-seeded them."""
    from keras_seeds.seeding.layer_randomness import seed_generators

    architecture = model.architecture
    variables = architecture.trainable_variables + architecture.non_trainable_variables
    states = {id(g.state) for kind, _, g in seed_generators(architecture) if kind == "augment"}
    shared = [i for i, v in enumerate(variables) if id(v) in states]
    assert shared, "the model has no augmentation layers"
    last = model.get_replica_weights(model.replicas - 1)
    for k in range(model.replicas - 1):
        own = model.get_replica_weights(k)
        model.set_replica_weights(k, [last[i] if i in shared else w for i, w in enumerate(own)])


# ------------------------------------------------------------- probed runs
PROBED_BATCH = 32
PROBED_EPOCHS = 2


def probed_builders():
    """The probed models by name (probes log batches, Dropout masks and
    augmented inputs inside the step)."""
    from probes import probed_digits_cnn, probed_digits_mlp

    return {"mlp": probed_digits_mlp, "cnn": probed_digits_cnn,
            "augmented": lambda steps, batch: probed_digits_cnn(steps, batch,
                                                                [augmentation_layers()]),
            # keras-io's ViT: one augmentation Sequential shared by every member.
            "shared augmentation": lambda steps, batch: probed_digits_cnn(
                steps, batch, [SHARED_AUGMENTATION])}


def probed_runs(kind, strategy="auto"):
    """A fused K=4 fit of a probed digits model and each seed's solo fit: the
    training data, each replica's probe logs, and every model's initial
    replica weights (plain arrays, so a run in another process can pickle them).
    ``strategy`` fuses the replicas (what is compared here is exact either way)."""
    from probes import logs_of

    data, _ = digits("mlp" if kind == "mlp" else "cnn")
    steps = PROBED_EPOCHS * -(-len(data[0]) // PROBED_BATCH)
    initial = []

    def build():
        return probed_builders()[kind](steps, PROBED_BATCH)

    def remember(model):
        initial.append([model.get_replica_weights(k) for k in range(model.replicas)])

    compile_arguments = {**CLASSIFIER, "strategy": strategy}
    fused = fit(build, SEEDS, data, epochs=PROBED_EPOCHS, before_fit=remember,
                compile_arguments=compile_arguments)
    solos = [fit(build, [seed], data, epochs=PROBED_EPOCHS, before_fit=remember,
                 compile_arguments=compile_arguments) for seed in SEEDS]
    return {"data": data, "fused_logs": [logs_of(fused, k) for k in range(len(SEEDS))],
            "solo_logs": [logs_of(solo, 0) for solo in solos],
            "initial_fused": initial[0], "initial_solo": [weights[0] for weights in initial[1:]]}
