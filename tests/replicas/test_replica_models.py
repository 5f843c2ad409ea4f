"""Replica i is seed i's own run for models in the style of the keras-io
examples: a Conv1D + BatchNormalization time-series classifier, a wide-and-deep
model with named inputs, string features and preprocessing layers, and a VAE
whose losses live in ``compute_loss``. The same checks as for the digits models
(test_replica_equality.py): initial weights, batches and random draws bit for
bit, one step within float32 ulps, a whole training in function space. And a
custom ``train_step`` is refused with an error that says what to do."""

import functools
from dataclasses import dataclass, field
from typing import Callable

import keras
import numpy as np
import pytest
from keras_io_models import (
    KerasIoVAE,
    conv1d_classifier,
    digits_images,
    digits_series,
    encoder_decoder,
    loss_vae,
    wide_and_deep,
    wine_features,
)

import keras_seeds as ks

from probes import logs_of
from replica_runs import (
    CLASSIFIER,
    ONE_STEP_ULPS,
    SEEDS,
    assert_replicas_are_solo_runs,
    assert_within_ulps,
    fit,
    optimizer_slots,
    outputs,
    solo_outputs,
)


@dataclass(frozen=True)
class Case:
    build: Callable            # build(probe=None) -> keras.Model
    data: Callable             # () -> (train, held_out), each (x, y) or (x,)
    compile_arguments: dict
    logs: tuple                # the probe logs it writes
    batch_size: int = 32
    epochs: int = 3
    # Variables whose gradient is pure rounding noise, left out of the one-step
    # check: a bias right before BatchNormalization, which removes it (its true
    # gradient is zero, so fused and solo runs round it to different tiny values).
    rounding_noise: tuple = field(default_factory=tuple)
    # One step's difference allowed, in float32 ulps of each variable's scale.
    # Gradients that sum many terms, some cancelling, round more: a
    # BatchNormalization beta after Conv1D sums 32 x 64 terms (up to 24 ulps
    # measured), the VAE's transposed-conv bias 64 x 8 x 8 (19 ulps); see
    # `python tests/scripts/replica_drift.py --one-step`.
    ulps: int = ONE_STEP_ULPS


CASES = {
    "conv1d": Case(conv1d_classifier, digits_series, CLASSIFIER, ("batches",),
                   epochs=2, rounding_noise=("conv1d",), ulps=64),
    "wide_and_deep": Case(wide_and_deep, wine_features, CLASSIFIER,
                          ("batches", "dropout_masks"), batch_size=16, epochs=6),
    "vae": Case(loss_vae, digits_images, {}, ("batches", "epsilon"), batch_size=64, ulps=64),
}
PARAMS = [pytest.param(name, marks=pytest.mark.xdist_group(name)) for name in CASES]


def steps_for(case: Case, epochs: int) -> int:
    (x, *_), _ = case.data()
    return epochs * -(-len(keras.tree.flatten(x)[0]) // case.batch_size)


def train(case: Case, seeds, epochs, probe=None, before_fit=None, **kwargs):
    train_data, _ = case.data()
    return fit(lambda: case.build(probe), seeds, train_data, epochs=epochs,
               batch_size=case.batch_size, compile_arguments=case.compile_arguments,
               before_fit=before_fit, **kwargs)


@pytest.fixture(scope="module", params=PARAMS)
def probed(request):
    return _probed(request.param)


# Cached per worker process: xdist may run other modules' tests between these,
# which makes pytest set a module-scoped fixture up again.
@functools.lru_cache(maxsize=None)
def _probed(name):
    """Each case trained 2 epochs with its probes, fused and seed by seed, with
    everyone's initial weights."""
    case = CASES[name]
    probe = (steps_for(case, 2), case.batch_size)
    initial = []

    (x, *_), _ = case.data()

    def remember(model):
        if not model.built:  # a subclassed model builds on its first call
            model.predict(keras.tree.map_structure(lambda a: a[:1], x), verbose=0)
        initial.append([model.get_replica_weights(k) for k in range(model.replicas)])

    fused = train(case, SEEDS, 2, probe, before_fit=remember)
    solos = [train(case, [seed], 2, probe, before_fit=remember) for seed in SEEDS]
    return case, fused, solos, initial[0], [weights[0] for weights in initial[1:]]


def test_replica_starts_from_its_solo_runs_weights_bitwise(probed):
    _, _, _, fused, solos = probed
    for replica, solo in zip(fused, solos):
        assert all(np.array_equal(a, b) for a, b in zip(replica, solo))
    assert len({weights[0].tobytes() for weights in fused}) == len(SEEDS)


def test_replica_sees_its_solo_runs_batches_and_draws_bitwise(probed):
    case, fused, solos, _, _ = probed
    for name in case.logs:
        logged = [logs_of(fused, k)[name] for k in range(len(SEEDS))]
        for k, solo in enumerate(solos):
            np.testing.assert_array_equal(logged[k], logs_of(solo, 0)[name], err_msg=name)
        assert len({log.tobytes() for log in logged}) == len(SEEDS), name
        assert np.any(logged[0] != 0), name  # the probe did log


@pytest.mark.parametrize("name", PARAMS)
def test_one_sgd_step_stays_within_float32_ulps(name):
    case = CASES[name]

    def one_step(seeds):
        return train(case, seeds, 1, steps_per_epoch=1,
                     optimizer=lambda: keras.optimizers.SGD(0.01, momentum=0.9))

    fused = one_step(SEEDS)
    paths = [v.path for v in fused.architecture.trainable_variables
             + fused.architecture.non_trainable_variables]
    noise = {i for i, path in enumerate(paths) if path.endswith("/bias") and any(
        path.split("/")[-2].startswith(layer) for layer in case.rounding_noise)}
    assert len(noise) == (3 if case.rounding_noise else 0)  # conv1d: its three convolutions
    kept = [i for i in range(len(paths)) if i not in noise]
    kept_slots = [i for i in range(len(fused.trainable_weights)) if i not in noise]
    for k, seed in enumerate(SEEDS):
        alone = one_step([seed])
        mine, theirs = fused.get_replica_weights(k), alone.get_replica_weights(0)
        mine_slots, their_slots = optimizer_slots(fused, k), optimizer_slots(alone, 0)
        assert_within_ulps([mine[i] for i in kept] + [mine_slots[i] for i in kept_slots],
                           [theirs[i] for i in kept] + [their_slots[i] for i in kept_slots],
                           ulps=case.ulps,
                           what=f"{name} replica {k} (seed {seed}), variable or momentum")


@pytest.mark.parametrize("name", PARAMS)
def test_replica_i_predicts_like_seed_i_alone(name):
    case = CASES[name]
    _, (x_held, *_) = case.data()
    fused = train(case, SEEDS, case.epochs)
    solo = solo_outputs(lambda: case.build(None), SEEDS, case.data()[0], x_held,
                        epochs=case.epochs, batch_size=case.batch_size,
                        compile_arguments=case.compile_arguments)
    assert_replicas_are_solo_runs(outputs(fused, x_held), solo)


def test_a_custom_train_step_is_refused_with_what_to_do_instead():
    with pytest.raises(TypeError) as raised:
        ks.SeededModel(lambda: KerasIoVAE(*encoder_decoder()), replicas=2, seed=0)
    message = str(raised.value)
    assert message.startswith("SeededModel cannot train KerasIoVAE: it overrides `train_step`")
    assert "Move the loss into `KerasIoVAE.compute_loss(self, x, y, y_pred" in message
    assert "keras_seeds.SeedCallback" in message


def test_the_vae_logs_its_own_trackers_per_replica_and_evaluates():
    case = CASES["vae"]
    model = train(case, SEEDS[:2], 1)
    history = model.history.history
    assert {"total_loss", "kl_loss", "reconstruction_loss_replica_1", "diverged"} <= set(history)
    _, (x_held,) = case.data()
    scores = model.evaluate_replicas(x_held)
    assert sorted(scores) == ["kl_loss", "reconstruction_loss", "total_loss"]
    np.testing.assert_allclose(scores["total_loss"],
                               np.add(scores["kl_loss"], scores["reconstruction_loss"]),
                               rtol=1e-5)
