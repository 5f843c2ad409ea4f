import functools

import pytest

import keras_seeds as ks

from conftest import run_python


def test_enable_and_disable_determinism_round_trip():
    ks.enable_determinism()
    assert ks.determinism_enabled()
    ks.disable_determinism()
    assert not ks.determinism_enabled()


@pytest.mark.parametrize("threads, error, message", [
    (0, ValueError, "`threads` must be an int >= 1 or None; received threads=0."),
    (-2, ValueError, "`threads` must be an int >= 1 or None; received threads=-2."),
    (1.5, TypeError, "received threads=1.5 of type float."),
    (True, TypeError, "received threads=True of type bool."),
])
def test_bad_threads_are_rejected(threads, error, message):
    with pytest.raises(error) as info:
        ks.enable_determinism(threads=threads)
    assert message in str(info.value)
    with pytest.raises(error):
        ks.SeedCallback(1, threads=threads, manifest=None)


# Threads are process state: one fresh process sets them before TensorFlow's
# runtime starts, then asks again after its first op.
THREADS_SCRIPT = """
import keras_seeds as ks
ks.enable_determinism(threads=1)
from keras_seeds.seeding.determinism import thread_settings
print(thread_settings(), ks.determinism_enabled())
import tensorflow as tf
tf.constant(1.0) + 1
try:
    ks.enable_determinism(threads=2)
except RuntimeError as e:
    print(e)
"""


@functools.lru_cache(maxsize=None)
def _threads_process() -> list:
    return run_python("-c", THREADS_SCRIPT).stdout.strip().split("\n", 1)


# Both on one worker, so that the process above runs once.
threads_process = pytest.mark.xdist_group("threads_process")


@threads_process
def test_threads_before_runtime_start_are_applied():
    assert _threads_process()[0] == "{'intra_op': 1, 'inter_op': 1} True"


@threads_process
def test_threads_after_runtime_start_say_what_to_do():
    out = _threads_process()[1]
    assert "Cannot set threads=2: TensorFlow's runtime already started" in out
    assert "TF_NUM_INTRAOP_THREADS=2 and TF_NUM_INTEROP_THREADS=2" in out
    assert "before any TensorFlow op" in out


def test_callback_compiles_without_xla():
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", jit_compile=True)
    assert model.jit_compile
    with pytest.warns(UserWarning, match=r"^SeedCallback: this model was compiled with XLA "
                      r"\(jit_compile=True\); it trains without XLA \(jit_compile=False\), "
                      r"because XLA's kernels are not deterministic on GPU .* To keep XLA, pass "
                      r"SeedCallback\(deterministic=False\)"):
        model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=1, verbose=0, shuffle=False,
                  callbacks=[ks.SeedCallback(1, manifest=None)])
    assert model.jit_compile is False
    assert ks.audit(model).find("XLA")[0].status == "controlled"

    # deterministic=False keeps what the user compiled, without a word (in a fresh
    # process: op determinism, once on, is process-wide and Keras then drops XLA).
    script = """
import warnings
import keras, numpy as np
import keras_seeds as ks
model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
model.compile("sgd", "mse", jit_compile=True)
with warnings.catch_warnings():
    warnings.simplefilter("error")
    model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=1, verbose=0, shuffle=False,
              callbacks=[ks.SeedCallback(1, manifest=None, deterministic=False)])
print(model.jit_compile)
"""
    assert run_python("-c", script).stdout.strip() == "True"
