"""The run manifest: what it records, where it may be written, and keras-seeds diff."""

import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_seeds as ks
from keras_seeds._files import write_json_atomically
from keras_seeds.records import fingerprint


def train(path, seed=1, x=None, learning_rate=0.01, epochs=2):
    callback = ks.SeedCallback(seed, manifest=path, verbose=0)
    x = np.linspace(0, 1, 32).reshape(16, 2).astype("float32") if x is None else x
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4),
                              keras.layers.Dropout(0.1), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(learning_rate), "mse", metrics=["mae"])
    model.fit(ks.seeded_dataset(x, y, batch_size=8), epochs=epochs, verbose=0,
              callbacks=[callback], shuffle=False)
    return ks.read_manifest(path), model


def test_manifest_records_what_repeats_the_run(tmp_path):
    manifest, model = train(tmp_path / "run.json", seed=11)
    assert manifest["status"] == "finished"
    assert manifest["seed"]["master"] == 11
    assert manifest["seed"]["subseeds"] == ks.Seeds(11).as_dict()
    for library in ("python", "tensorflow", "keras", "numpy"):
        assert manifest["versions"][library]
    assert manifest["determinism"]["op_determinism"] is True
    assert manifest["environment"]["PYTHONHASHSEED"] == "11"
    x = np.linspace(0, 1, 32).reshape(16, 2).astype("float32")
    contents = manifest["data"]["train"]["items"]["x"]
    assert contents["kind"] == "keras_seeds.seeded_dataset"
    assert contents["contents"]["items"][0]["sha256"] == \
        fingerprint.array_fingerprint(x)["sha256"]
    assert manifest["optimizer"]["class"] == "SGD"
    assert manifest["optimizer"]["learning_rate"] == pytest.approx(0.01)
    assert manifest["compile"]["loss"] == "mse"
    assert manifest["fit"]["epochs"] == 2
    assert manifest["model"]["params"] == model.count_params()
    assert manifest["result"]["weights_sha256"] == fingerprint.weights_fingerprint(model)
    assert manifest["result"]["history"]["seed"] == [11, 11]
    assert manifest["control"]["noise"] == "controlled: 1 SeedGenerator(s) re-seeded"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temp files left
    assert manifest["hardware"]["usable_cores"] == len(os.sched_getaffinity(0))


@pytest.mark.skipif(shutil.which("taskset") is None or (os.cpu_count() or 1) < 2,
                    reason="needs taskset and two cores")
def test_the_cores_a_cpu_set_leaves_are_what_is_recorded_not_the_machines():
    # TensorFlow sizes its default thread pools by the cores a process may use
    # (taskset, Slurm and container CPU sets), and a thread count can change how
    # a sum is split: the manifest records that count, not os.cpu_count().
    script = ("import os; from keras_seeds.seeding.determinism import usable_cores; "
              "print(usable_cores(), os.cpu_count())")
    out = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", script],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "1" and int(out[1]) >= 2


def test_bad_manifest_paths_fail_before_training(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"`manifest`: directory '.*missing' does "
                                                r"not exist"):
        ks.SeedCallback(1, manifest=tmp_path / "missing" / "run.json")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"`manifest`: '.*file' is not a directory"):
        ks.SeedCallback(1, manifest=tmp_path / "file" / "run.json")
    with pytest.raises(PermissionError, match=r"`manifest`: cannot write in '/proc'"):
        ks.SeedCallback(1, manifest="/proc/run.json")
    with pytest.raises(TypeError, match=r"`manifest` must be a path"):
        ks.SeedCallback(1, manifest=3)
    assert list(tmp_path.iterdir()) == [tmp_path / "file"]


def test_failed_write_leaves_previous_manifest_whole(tmp_path):
    path = tmp_path / "run.json"
    write_json_atomically(path, {"a": 1})
    with pytest.raises(TypeError):
        write_json_atomically(path, {"a": object.__new__(BadJson)})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


class BadJson:
    def __repr__(self):
        raise TypeError("cannot serialise")


def test_diff_names_changed_data_hyperparameter_and_seed(tmp_path):
    base, _ = train(tmp_path / "a.json")
    same, _ = train(tmp_path / "a2.json")
    data, _ = train(tmp_path / "b.json", x=np.linspace(0, 2, 32).reshape(16, 2).astype("float32"))
    lr, _ = train(tmp_path / "c.json", learning_rate=0.05)
    seed, _ = train(tmp_path / "d.json", seed=2)

    assert ks.explain_diff(base, same) == [
        "The runs match: same inputs and bit-identical final weights."]
    reasons = ks.explain_diff(base, data)
    assert reasons[0].startswith("The training data differs: data.train.items.x.contents."
                                 "items.0.sha256 is ")
    reasons = ks.explain_diff(base, lr)
    assert reasons == ["An optimizer setting differs: optimizer.learning_rate is 0.01 in A "
                       "and 0.05 in B."]
    reasons = ks.explain_diff(base, seed)
    assert reasons[0].startswith("The seed differs: seed.master is 1 in A and 2 in B;")
    assert reasons == [reasons[0]]  # nothing else changed
