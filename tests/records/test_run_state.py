"""Run state: every random stream of a run captured and put back, so that a
resumed run continues each stream where it stopped (the groundwork of
bitwise resume)."""

import json
import random

import keras
import numpy as np
import pytest

import keras_seeds as ks
from keras_seeds.data_order import keras_fit
from keras_seeds.records.run_state import RunState, capture, restore

from conftest import run_python


def _model():
    return keras.Sequential([
        keras.Input((4, 4, 1)), keras.layers.RandomFlip("horizontal"),
        keras.layers.Flatten(), keras.layers.GaussianNoise(0.1), keras.layers.Dropout(0.5),
        keras.layers.Dense(2)])


def _draws(model):
    """One value from every stream."""
    x = np.ones((2, 4, 4, 1), "float32")
    return [random.random(), float(np.random.rand()),
            keras.ops.convert_to_numpy(keras.random.uniform((3,))).tolist(),
            keras.ops.convert_to_numpy(model(x, training=True)).tolist(),
            (keras_fit.state() or {}).get("next_pass")]


def test_every_stream_continues_where_it_was_captured_after_a_json_round_trip():
    ks.seed_everything(4, verbose=False)
    model = _model()
    keras_fit.take_over(ks.Seeds(4).data)
    keras_fit.start_at(3)
    _draws(model)  # move every stream away from its start
    saved = json.loads(json.dumps(capture(model).to_dict()))
    continuation = _draws(model)
    keras_fit.start_at(9)
    _draws(model)
    restore(RunState.from_dict(saved), model)
    assert _draws(model) == continuation
    assert keras_fit.state()["next_pass"] == 3
    keras_fit.release()


def test_a_model_with_other_seed_generators_is_refused_and_nothing_changes():
    ks.seed_everything(4, verbose=False)
    state = capture(_model())
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dropout(0.2)])
    before = random.getstate()
    with pytest.raises(ValueError, match=r"`model`: its SeedGenerators differ from the ones the "
                                         r"run state was captured from; missing: \['0:augment:"):
        restore(state, other)
    assert random.getstate() == before


def test_a_state_captured_in_one_process_continues_in_another(tmp_path):
    script = (
        "import json, sys, numpy as np, keras, keras_seeds as ks\n"
        "sys.path[:0] = ['tests', 'tests/records']\n"
        "from test_run_state import _model, _draws\n"
        "from keras_seeds.records.run_state import RunState, capture, restore\n"
        "ks.seed_everything(8, verbose=False)\n"
        "model = _model()\n"
        "path = sys.argv[2]\n"
        "if sys.argv[1] == 'first':\n"
        "    _draws(model)\n"
        "    json.dump(capture(model).to_dict(), open(path, 'w'))\n"
        "else:\n"
        "    _draws(model); _draws(model)  # elsewhere in its streams\n"
        "    restore(RunState.from_dict(json.load(open(path))), model)\n"
        "print(json.dumps(_draws(model)))\n")
    path = tmp_path / "state.json"
    first = run_python("-c", script, "first", path).stdout.strip().splitlines()[-1]
    resumed = run_python("-c", script, "resumed", path).stdout.strip().splitlines()[-1]
    assert json.loads(resumed) == json.loads(first)
