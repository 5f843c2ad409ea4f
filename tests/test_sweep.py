"""sweep: seeds trained in fused chunks into a store; a rerun trains only what
is missing, and ends with the scores an uninterrupted sweep gives."""

import sqlite3

import numpy as np
import pytest

import keras_seeds as ks
from keras_seeds.demo import digits_mlp
from keras_seeds.store import SeedStore

SEEDS = [11, 3, 7, 42, 5, 8]


def _data():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int32")
    return (x[:256], y[:256]), (x[256:384], y[256:384])


class CountingChunks:
    """Counts the chunks a sweep trains; the ``fail_at``-th dies (a crash)."""

    def __init__(self, monkeypatch, fail_at=None):
        from keras_seeds import sweeps

        self.trained, self.fail_at, train = [], fail_at, sweeps._train_chunk

        def counted(build_fn, chunk, *args):
            if len(self.trained) + 1 == self.fail_at:
                raise MemoryError("the machine went away")
            self.trained.append(list(chunk))
            return train(build_fn, chunk, *args)

        monkeypatch.setattr(sweeps, "_train_chunk", counted)


def _sweep(path, build=digits_mlp, **kwargs):
    options = dict(seeds=SEEDS, epochs=2, replicas_per_job=4, store=path, config="mlp")
    return ks.sweep(build, _data, **{**options, **kwargs})


def _rows(path):
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT seed, status, score FROM runs ORDER BY seed").fetchall()


def test_a_sweep_stores_one_row_per_seed_with_the_chunks_own_scores(tmp_path):
    study = _sweep(tmp_path / "seeds.db")
    assert sorted(study.seeds.tolist()) == sorted(SEEDS)
    assert study.metric == "accuracy" and study.higher_is_better and study.name == "mlp"
    assert [seed for seed, _, _ in _rows(tmp_path / "seeds.db")] == sorted(SEEDS)
    # The second chunk, trained apart: the same fused fit gives the same bits.
    chunk = ks.SeededModel(digits_mlp, seeds=SEEDS[4:])
    chunk.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    (x, y), (x_val, y_val) = _data()
    chunk.fit(x, y, validation_data=(x_val, y_val), epochs=2, verbose=0)
    scores = dict(zip(study.seeds.tolist(), study.scores.tolist()))
    assert [scores[s] for s in SEEDS[4:]] == np.asarray(
        chunk.evaluate_replicas(x_val, y_val)["accuracy"]).tolist()
    assert study.curves["val_accuracy"].shape == (2, 6)


def test_a_sweep_that_crashed_is_finished_by_a_rerun_with_the_same_scores(tmp_path,
                                                                          monkeypatch):
    uninterrupted = _sweep(tmp_path / "whole.db")
    CountingChunks(monkeypatch, fail_at=2)  # the second chunk dies
    with pytest.raises(MemoryError):
        _sweep(tmp_path / "seeds.db")
    assert [seed for seed, _, _ in _rows(tmp_path / "seeds.db")] == sorted(SEEDS[:4])
    monkeypatch.undo()
    rerun = CountingChunks(monkeypatch)
    resumed = _sweep(tmp_path / "seeds.db")
    assert rerun.trained == [SEEDS[4:]]  # only what was missing
    assert _rows(tmp_path / "seeds.db") == _rows(tmp_path / "whole.db")
    assert resumed.scores.tolist() == uninterrupted.scores.tolist()
    monkeypatch.undo()
    again = CountingChunks(monkeypatch)
    _sweep(tmp_path / "seeds.db")
    assert again.trained == [] and _rows(tmp_path / "seeds.db") == _rows(tmp_path / "whole.db")


def test_two_configurations_share_a_store_and_compare_seed_by_seed(tmp_path):
    path = tmp_path / "seeds.db"
    slow = _sweep(path, config="adam-1e-4", compile_kwargs={
        "optimizer": ks_adam(1e-4), "loss": "sparse_categorical_crossentropy",
        "metrics": ["accuracy"]})
    fast = _sweep(path, config="adam-1e-2", compile_kwargs={
        "optimizer": ks_adam(1e-2), "loss": "sparse_categorical_crossentropy",
        "metrics": ["accuracy"]})
    assert {info["name"]: info["runs"] for info in SeedStore(path).configs().values()} == {
        "adam-1e-4": 6, "adam-1e-2": 6}
    result = ks.compare(fast, slow, paired=True)
    assert result.paired and result.n == (6, 6) and result.winner == "adam-1e-2"
    read = ks.SeedStudy.from_store(path, config="adam-1e-2")
    assert read.scores.tolist() == fast.scores.tolist()


def ks_adam(learning_rate):
    import keras

    return keras.optimizers.Adam(learning_rate)


def test_bad_arguments_are_refused_before_anything_is_written(tmp_path):
    path = tmp_path / "seeds.db"
    with pytest.raises(TypeError, match=r"^`data` must be \(\(x_train, y_train\), \(x_val, "
                                        r"y_val\)\)"):
        ks.sweep(digits_mlp, _data()[0], seeds=SEEDS, epochs=1, store=path)
    with pytest.raises(ValueError, match=r"^`metric`: 'f1' is not one of the compiled metrics "
                                         r"\['loss', 'accuracy'\]\.$"):
        _sweep(path, metric="f1")
    with pytest.raises(ValueError, match=r"^`fit_kwargs`: 'callbacks' is set by sweep itself"):
        _sweep(path, fit_kwargs={"callbacks": []})
    with pytest.raises(ValueError, match=r"`seeds` must not repeat a seed"):
        _sweep(path, seeds=[1, 1])
    with pytest.raises(ValueError, match=r"^`replicas_per_job` must be an int >= 1 or 'auto'"):
        _sweep(path, replicas_per_job="many")
    assert not path.exists()


def test_auto_chunks_depend_on_the_model_and_memory_only(monkeypatch):
    from keras_seeds import sweeps as sweep_module

    model = digits_mlp()
    assert sweep_module.replicas_per_chunk(model, 32, seeds=1000) == 32
    assert sweep_module.replicas_per_chunk(model, 32, seeds=5) == 5
    # 4 bytes x (4 x 4,810 weights + 3 x 32 x 64 activations x 3 layers) = 150 KiB a
    # replica; a quarter of 1 MiB holds one.
    monkeypatch.setattr(sweep_module, "_memory_bytes", lambda: 2 ** 20)
    assert sweep_module.replicas_per_chunk(model, 32, seeds=1000) == 1
