"""keras-seeds on Keras' JAX backend, run in processes of their own (the backend
is fixed when Keras is imported; this suite's own process runs TensorFlow).

The replica contract on JAX (initial weights, batches, Dropout masks and
augmentations bit for bit, replica i like seed i alone, two processes bit for
bit) is tested with the TensorFlow one, in tests/replicas/test_replica_equality.py.
"""

import functools

import numpy as np
import pytest

from keras_seeds.seeding.determinism import JAX_DETERMINISTIC_FLAG

from conftest import jax_env, run_script_json

pytestmark = pytest.mark.xdist_group("jax_runs")


@functools.lru_cache(maxsize=None)
def callback_runs(directory: str) -> tuple[dict, dict]:
    """``SeedCallback(7)`` runs of the digits MLP in two processes; the first
    also trains on a PyDataset and a generator, the second exports a fused
    ensemble to ``directory`` (two processes fewer)."""
    return (run_script_json("jax_runs.py", "callback", "sources", env=jax_env()),
            run_script_json("jax_runs.py", "callback", "export", directory, env=jax_env()))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("jax_runs")
    return (*callback_runs(str(directory)), directory)


def test_seed_callback_repeats_a_jax_run_bit_for_bit_in_another_process(runs):
    first, second, _ = runs
    assert first["backend"] == "jax"
    assert first["sha256"] == second["sha256"]
    assert first["loss"] == second["loss"]
    assert first["loss"][1] < first["loss"][0]  # it trained
    # The manifest says what ran: JAX, deterministic XLA, the flag that made it so.
    assert first["manifest_backend"] == "jax" and first["manifest_jax"]
    assert first["manifest_determinism"] is True
    assert JAX_DETERMINISTIC_FLAG in first["xla_flags"].split()
    assert first["threads_error"].startswith("`threads`: threads=2 sizes TensorFlow's thread "
                                             "pools; the JAX backend has none to set")


def test_a_jax_ensemble_exports_a_savedmodel_that_plain_tensorflow_serves(runs):
    import tensorflow as tf

    _, second, directory = runs
    assert second["export"]["fusing"]["strategy"] == "vectorized"  # a Dense model: no probe
    x = np.load(directory / "x.npy")
    expected = np.load(directory / "expected.npy")
    np.testing.assert_allclose(expected, np.load(directory / "model_predict.npy"), atol=1e-6)
    served = tf.saved_model.load(str(directory / "ensemble"))
    np.testing.assert_allclose(served.serve(x).numpy(), expected, atol=1e-6)
    uncertainty = served.serve_uncertainty(x)
    assert sorted(uncertainty) == ["disagreement", "prediction", "std"]
    np.testing.assert_allclose(uncertainty["prediction"].numpy(), expected, atol=1e-6)


def test_replica_rows_on_jax_train_each_replica_as_a_solo_run_on_its_rows(runs):
    # The host feed maps each replica's pass order through its own rows, as the
    # TensorFlow feed does (tests/replicas/test_model.py): unrolled, bit for bit.
    _, second, _ = runs
    assert second["replica_rows"]["gaps"] == [0.0, 0.0]


def test_replicas_read_a_pydataset_in_their_own_orders_and_share_a_generator_on_jax(runs):
    # The same claims as tests/replicas/test_sources.py on TensorFlow.
    import keras_seeds as ks
    from keras_seeds.data_order.order import pass_order
    from keras_seeds.statistics import REPLICA_SOLO_TOLERANCE

    sources = runs[0]["sources"]
    assert max(sources["gap"]) <= REPLICA_SOLO_TOLERANCE, sources["gap"]
    for epoch, orders in enumerate(sources["orders"]):
        for k, seed in enumerate([11, 22, 33]):   # tests/sources_data.py's SEEDS
            expected = pass_order(6, [ks.Seeds(seed).data, epoch]).numpy().tolist()
            assert orders[k] == expected + [6]   # 7 batches, the short one last
    assert sources["generator_is_unshuffled_arrays"] is True
    own, shared = sources["records"]
    assert own.startswith("controlled: every replica its own order of the PyDataset's batches")
    assert shared.startswith("shared: one read per step")
