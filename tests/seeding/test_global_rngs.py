import random

import numpy as np

import keras_seeds as ks

from conftest import run_python


def test_seed_everything_repeats_python_numpy_tf_and_keras_draws():
    import keras
    import tensorflow as tf

    def draws():
        return (random.random(), np.random.rand(), float(tf.random.uniform(())),
                float(keras.random.uniform(())))

    assert ks.seed_everything(123) == 123
    first = draws()
    ks.seed_everything(123)
    assert draws() == first
    ks.seed_everything(124)
    assert draws() != first


def test_seed_none_draws_prints_once_and_records(capsys):
    master = ks.seed_everything(None)
    assert ks.active_seeds().master == master and ks.active_seeds().drawn
    out = capsys.readouterr().out
    assert f"drew master seed {master}" in out
    assert f"pass seed={master}" in out


def test_child_processes_inherit_pythonhashseed():
    ks.seed_everything(77)
    child = run_python("-c", "import os; print(os.environ['PYTHONHASHSEED'], hash('abc'))")
    again = run_python("-c", "import os; print(os.environ['PYTHONHASHSEED'], hash('abc'))")
    pythonhashseed, hashed = child.stdout.split()
    assert pythonhashseed == "77"
    assert again.stdout == child.stdout  # string hashing fixed in children


def test_random_hash_seed_is_said_in_the_audit_not_warned_on_every_run():
    # Keras is imported first: Keras 3.13 itself warns at import under NumPy 1.26.
    script = ("import warnings, keras, keras_seeds as ks\n"
              "with warnings.catch_warnings(record=True) as w:\n"
              "    warnings.simplefilter('always')\n"
              "    ks.seed_everything(5)\n"
              "print(len(w), ks.audit().find('PYTHONHASHSEED')[0].status)\n")
    import os
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    env["PYTHONHASHSEED"] = "random"
    assert run_python("-c", script, env=env).stdout.split() == ["0", "check"]
    env["PYTHONHASHSEED"] = "5"
    assert run_python("-c", script, env=env).stdout.split() == ["0", "controlled"]

def test_another_thread_drawing_from_random_does_not_shift_the_replicas_weights():
    # A Dask worker's event loop, a notebook's threads: they draw from Python's
    # shared `random` whenever they like, while Keras draws initializer seeds from it.
    import threading

    from keras_seeds.demo import digits_mlp

    want = ks.SeededModel(digits_mlp, seeds=[1, 2]).get_weights()
    stop, draws = threading.Event(), []

    def draw():
        while not stop.is_set():
            draws.append(random.random())

    thread = threading.Thread(target=draw)
    thread.start()
    try:
        got = ks.SeededModel(digits_mlp, seeds=[1, 2]).get_weights()
    finally:
        stop.set()
        thread.join()
    assert len(draws) > 1000  # it did draw while the replicas were built
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    random.seed(3)  # the shared generator still works as Python's own
    assert random.random() == random.Random(3).random()
