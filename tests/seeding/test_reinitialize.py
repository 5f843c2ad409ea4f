"""``SeedCallback(reinitialize=True)`` makes runs bit-identical across
processes for models built from unseeded randomness, keeps state no
initializer made, and the audit says exactly what was re-drawn
(tests/scripts/reinitialized_runs.py)."""

import functools

import numpy as np
import pytest

import keras_seeds as ks

from conftest import run_script_json

# Two processes, each running every case one after another; the tests that
# share them run on one worker.
shared_runs = pytest.mark.xdist_group("reinitialized_runs")


@functools.lru_cache(maxsize=None)
def runs(process: int) -> dict:
    """``process`` tells the two runs of the same arguments apart."""
    return run_script_json("reinitialized_runs.py", "unbuilt:keep", "unbuilt", "normalization",
                           "lstm")


@shared_runs
@pytest.mark.parametrize("model", ["unbuilt", "normalization", "lstm"])
def test_reinitialized_runs_are_bit_identical_across_processes(model):
    first, second = runs(1)[model], runs(2)[model]
    assert first["weights_sha256"] == second["weights_sha256"]
    assert first["status"] == "controlled"
    redrawn = {"unbuilt": 4, "normalization": 4, "lstm": 6}[model]
    assert first["detail"].startswith(f"{redrawn} weights re-drawn from the init sub-seed "
                                      f"{ks.Seeds(7).init}")
    if model == "normalization":
        assert first["detail"].endswith(
            "kept as they were (state no initializer made: adapt() statistics, lookup "
            "tables, counters): normalization/mean, normalization/variance, "
            "normalization/count")
        np.testing.assert_allclose(first["normalization_mean"], first["data_mean"], rtol=1e-5)
    else:
        assert "kept" not in first["detail"]


@shared_runs
def test_without_reinitialize_the_unseeded_build_shows_and_is_not_claimed():
    first, second = runs(1)["unbuilt:keep"], runs(2)["unbuilt:keep"]
    assert first["weights_sha256"] != second["weights_sha256"]
    assert first["status"] == "check"


def test_an_unbuilt_model_whose_input_cannot_be_read_is_refused_with_what_to_do():
    import keras

    model = keras.Sequential([keras.layers.Dense(1)])
    model.compile("sgd", "mse")

    def batches():
        while True:
            yield np.ones((4, 3), "float32"), np.ones((4, 1), "float32")

    callback = ks.SeedCallback(1, reinitialize=True, manifest=None, verbose=0)
    with pytest.raises(ValueError, match=(
            r"SeedCallback\(reinitialize=True\): model 'sequential\w*' is not built yet, so "
            r"it has no weights to re-draw, and its input shape cannot be read from what fit "
            r"was given \(x of type generator\)\. Give the model its input first \(a "
            r"`keras.Input\(shape\)` layer, or `model.build\(input_shape\)` before `fit`\)\.")):
        model.fit(batches(), steps_per_epoch=2, epochs=1, verbose=0, callbacks=[callback])
