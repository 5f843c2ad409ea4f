"""sweep: seeds trained in fused chunks into a store; a rerun trains only what
is missing, and ends with the scores an uninterrupted sweep gives."""

import sqlite3

import numpy as np
import pytest

import keras_seeds as ks
from keras_seeds.demo import digits_mlp
from keras_seeds.sweeps.store import SeedStore

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
        from keras_seeds.sweeps import run as sweeps

        self.trained, self.fail_at, train = [], fail_at, sweeps.Chunks.train
        self.attempts = 0

        def counted(job, chunk, *args):
            self.attempts += 1
            if self.attempts == self.fail_at:
                raise MemoryError("the machine went away")
            self.trained.append(list(chunk))
            return train(job, chunk, *args)

        monkeypatch.setattr(sweeps.Chunks, "train", counted)


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
    # The second chunk, trained apart (one step per call of the training
    # function, where the sweep runs a whole epoch per call): the same fused
    # fit gives the same bits.
    chunk = ks.SeededModel(digits_mlp, seeds=SEEDS[4:])
    chunk.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    (x, y), (x_val, y_val) = _data()
    chunk.fit(x, y, validation_data=(x_val, y_val), epochs=2, verbose=0)
    scores = dict(zip(study.seeds.tolist(), study.scores.tolist()))
    alone = chunk.evaluate_replicas(x_val, y_val)
    assert [scores[s] for s in SEEDS[4:]] == np.asarray(alone["accuracy"]).tolist()
    rows = {run.seed: run for run in SeedStore(tmp_path / "seeds.db").runs(
        SeedStore(tmp_path / "seeds.db").only_config())}
    assert [rows[s].metrics["loss"] for s in SEEDS[4:]] == alone["loss"]
    predictions = chunk.predict_replicas(x_val, verbose=0)
    for k, seed in enumerate(SEEDS[4:]):
        assert rows[seed].manifest["chunk"] == SEEDS[4:] and rows[seed].manifest["replica"] == k
        assert rows[seed].manifest["fusing"] == chunk.fusing  # how its floats were summed
        stored = np.load(__import__("io").BytesIO(rows[seed].outputs))
        assert np.array_equal(stored, predictions[k])
    assert study.curves["val_accuracy"].shape == (2, 6)
    # Each seed's per-example correctness, one bit per validation example: the
    # examples its argmax gets right, averaging to its score.
    assert study.correct.shape == (6, 128)
    for k, seed in enumerate(SEEDS[4:]):
        row = study.correct[study.seeds.tolist().index(seed)]
        assert np.array_equal(row, predictions[k].argmax(axis=1) == y_val)
    assert np.allclose(study.correct.mean(axis=1), study.scores, atol=1e-6)


def test_a_failed_chunk_is_stored_as_failed_and_a_rerun_ends_with_the_same_scores(
        tmp_path, monkeypatch):
    uninterrupted = _sweep(tmp_path / "whole.db")
    CountingChunks(monkeypatch, fail_at=1)  # the first chunk dies; the sweep goes on
    partial = _sweep(tmp_path / "seeds.db")
    assert sorted(partial.seeds.tolist()) == sorted(SEEDS[4:])
    assert sorted(partial.failed_seeds.tolist()) == sorted(SEEDS[:4])
    failed = [run for run in SeedStore(tmp_path / "seeds.db").runs(
        SeedStore(tmp_path / "seeds.db").only_config()) if run.status == "failed"]
    assert {run.error for run in failed} == {"MemoryError: the machine went away"}
    monkeypatch.undo()
    rerun = CountingChunks(monkeypatch)
    resumed = _sweep(tmp_path / "seeds.db")
    assert rerun.trained == [SEEDS[:4]]  # only what failed
    assert _rows(tmp_path / "seeds.db") == _rows(tmp_path / "whole.db")
    assert resumed.scores.tolist() == uninterrupted.scores.tolist()
    monkeypatch.undo()
    again = CountingChunks(monkeypatch)
    _sweep(tmp_path / "seeds.db")
    assert again.trained == [] and _rows(tmp_path / "seeds.db") == _rows(tmp_path / "whole.db")


def test_two_configurations_share_a_store_and_compare_seed_by_seed(tmp_path):
    path = tmp_path / "seeds.db"
    # One chunk per configuration: chunking is the other tests' concern.
    slow = _sweep(path, config="adam-1e-4", replicas_per_job=6, compile_kwargs={
        "optimizer": ks_adam(1e-4), "loss": "sparse_categorical_crossentropy",
        "metrics": ["accuracy"]})
    fast = _sweep(path, config="adam-1e-2", replicas_per_job=6, compile_kwargs={
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
    from keras_seeds.sweeps import plan as sweep_module

    model = digits_mlp()
    assert sweep_module.replicas_per_chunk(model, 32, seeds=1000) == 128
    assert sweep_module.replicas_per_chunk(model, 32, seeds=5) == 5
    # 4 bytes x (4 x 4,810 weights + 3 x 32 x 64 activations x 3 layers) = 150 KiB a
    # replica; a quarter of 1 MiB holds one.
    monkeypatch.setattr(sweep_module, "_memory_bytes", lambda: 2 ** 20)
    assert sweep_module.replicas_per_chunk(model, 32, seeds=1000) == 1


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """A 3-epoch sweep that kept its seeds' weights and validation predictions."""
    path = tmp_path_factory.mktemp("kept") / "seeds.db"
    return path, _sweep(path, epochs=3, keep_weights=True, progress=False)


def _stored_predictions(path) -> dict:
    import io

    store = SeedStore(path)
    return {run.seed: np.load(io.BytesIO(run.outputs))
            for run in store.runs(store.only_config())}


def test_the_ensemble_score_is_that_of_the_mean_prediction_of_the_seeds_models(kept):
    path, study = kept
    _, (x_val, y_val) = _data()
    predictions = _stored_predictions(path)
    mean = np.mean([predictions[s] for s in sorted(SEEDS)], axis=0)
    # Independent: accuracy of the mean prediction, in NumPy.
    assert study.ensemble_score == pytest.approx(float(np.mean(mean.argmax(-1) == y_val)))
    assert ks.SeedStudy.from_store(path).ensemble_score == study.ensemble_score
    # The kept weights are each seed's trained model: the fused ensemble rebuilt
    # from them predicts the stored mean, and one seed alone its own prediction.
    ensemble = ks.SeedEnsemble.from_store(path, digits_mlp)
    assert ensemble.seeds == sorted(SEEDS)
    np.testing.assert_allclose(ensemble.predict(x_val, verbose=0), mean, atol=1e-6)
    alone = ks.SeedEnsemble.from_store(path, digits_mlp, seeds=[42])
    np.testing.assert_allclose(alone.predict(x_val, verbose=0), predictions[42], atol=1e-6)
    with pytest.raises(ValueError, match=r"^`seeds`: no kept weights in '.*seeds\.db' for "
                                         r"seed\(s\) \[1000\]; run the sweep with "
                                         r"keep_weights=True"):
        ks.SeedEnsemble.from_store(path, digits_mlp, seeds=[1000])
    # A seed added later: the ensemble is scored again over all of them.
    more = _sweep(path, seeds=SEEDS + [99], epochs=3, keep_weights=True, progress=False)
    predictions = _stored_predictions(path)
    mean = np.mean([predictions[s] for s in sorted(SEEDS + [99])], axis=0)
    assert more.n == 7
    assert more.ensemble_score == pytest.approx(float(np.mean(mean.argmax(-1) == y_val)))


def test_early_discard_stops_the_worst_of_each_chunk_and_leaves_the_others_alone(tmp_path,
                                                                                 kept):
    _, full = kept
    study = _sweep(tmp_path / "seeds.db", epochs=3, discard=(1, 0.5), progress=False)
    # Independent: in each chunk (4 seeds, then 2), the floor(0.5 x size) seeds
    # with the lowest validation accuracy after epoch 1 (ties: chunk order).
    after_one = dict(zip(full.seeds.tolist(), full.curves["val_accuracy"][0].tolist()))
    expected = []
    for chunk in (SEEDS[:4], SEEDS[4:]):
        ranked = sorted(range(len(chunk)), key=lambda i: (after_one[chunk[i]], i))
        expected += [chunk[i] for i in ranked[:len(chunk) // 2]]
    assert sorted(study.discarded_seeds.tolist()) == sorted(expected)
    rows = {seed: (status, score) for seed, status, score in _rows(tmp_path / "seeds.db")}
    assert {seed: rows[seed] for seed in expected} == {
        seed: ("discarded", after_one[seed]) for seed in expected}
    # The seeds that went on trained exactly as without the discard.
    scores = dict(zip(full.seeds.tolist(), full.scores.tolist()))
    assert dict(zip(study.seeds.tolist(), study.scores.tolist())) == {
        seed: scores[seed] for seed in SEEDS if seed not in expected}
    assert study.summary()["n_discarded"] == 3
    study.report(tmp_path / "report.md")
    assert "3 more seed(s) were discarded early" in (tmp_path / "report.md").read_text()
    with pytest.raises(ValueError, match=r"^`discard` must be None or \(after_epochs, "
                                         r"fraction\) with 1 <= after_epochs < epochs \(3\) "
                                         r"and 0 < fraction < 1; received discard=\(3, 0\.5\)"):
        _sweep(tmp_path / "other.db", epochs=3, discard=(3, 0.5))
    assert not (tmp_path / "other.db").exists()


def _with_test_split():
    (x, y), (x_val, y_val) = _data()
    return (x[:192], y[:192]), (x_val, y_val), (x[192:], y[192:])


def test_the_progress_bar_counts_seeds_and_is_quiet_off_a_terminal(tmp_path, capsys):
    study = ks.sweep(digits_mlp, _with_test_split, seeds=[1, 2], epochs=1,
                     store=tmp_path / "seeds.db", progress=True)
    bar = capsys.readouterr().err
    assert "2/2" in bar and "seeds/min" in bar and "accuracy best" in bar
    # A third split: each seed's test score, as its chunk's model scores it.
    chunk = ks.SeededModel(digits_mlp, seeds=[1, 2])
    chunk.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    train, validation, (x_test, y_test) = _with_test_split()
    chunk.fit(*train, validation_data=validation, epochs=1, verbose=0)
    assert study.test_scores.tolist() == chunk.evaluate_replicas(x_test, y_test)["accuracy"]
    # With the validation predictions (ensemble=True), the test ones and both
    # splits' labels are kept: what k-seed ensembles are compared from.
    store = SeedStore(tmp_path / "seeds.db")
    key = store.only_config()
    kept = store.predictions(key, "test")
    np.testing.assert_allclose(np.stack([kept[1], kept[2]]),
                               chunk.predict_replicas(x_test, verbose=0), atol=1e-6)
    assert np.array_equal(store.labels(key, "test"), y_test)
    assert np.array_equal(store.labels(key, "validation"), validation[1])
    _sweep(tmp_path / "more.db", seeds=[1, 2], epochs=1)  # "auto": stderr is no terminal
    assert "seeds/min" not in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"^`progress` must be True, False or 'auto'; "
                                         r"received progress='yes'"):
        _sweep(tmp_path / "other.db", progress="yes")


def test_a_keras_io_wide_and_deep_model_with_string_features_sweeps(tmp_path):
    from keras_io_models import wide_and_deep, wine_features

    # Named inputs as a dict, string features as NumPy object arrays.
    study = ks.sweep(wide_and_deep, wine_features, seeds=[0, 1, 2], epochs=2,
                     store=tmp_path / "seeds.db", replicas_per_job=2,
                     fit_kwargs={"batch_size": 16}, progress=False)
    _, (_, y_val) = wine_features()
    predictions = _stored_predictions(tmp_path / "seeds.db")
    mean = np.mean([predictions[s] for s in (0, 1, 2)], axis=0)
    assert study.n == 3 and mean.shape == (len(y_val), 3)
    assert study.ensemble_score == pytest.approx(float(np.mean(mean.argmax(-1) == y_val)))


def _compiled_binary():
    """A binary classifier that compiles itself, as keras-io's structured-data
    examples do (sigmoid output, binary cross-entropy)."""
    import keras

    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def _binary_data():
    (x, y), (x_val, y_val) = _data()
    return (x, (y >= 5).astype("float32")), (x_val, (y_val >= 5).astype("float32"))


def test_a_build_fn_that_compiles_its_model_trains_with_that_compile(tmp_path):
    study = ks.sweep(_compiled_binary, _binary_data, seeds=[1, 2], epochs=1, progress=False,
                     store=tmp_path / "own.db")
    (config,) = SeedStore(tmp_path / "own.db").configs().values()
    assert config["definition"]["compile"]["loss"] == "binary_crossentropy"
    assert study.metric == "accuracy" and np.all((study.scores > 0) & (study.scores <= 1))
    # Its own compile, given again, is the same configuration; a different one is
    # refused before anything is written.
    again = ks.sweep(_compiled_binary, _binary_data, seeds=[1, 2], epochs=1, progress=False,
                     store=tmp_path / "own.db", compile_kwargs={
                         "optimizer": "adam", "loss": "binary_crossentropy",
                         "metrics": ["accuracy"]})
    assert np.array_equal(again.scores, study.scores)
    with pytest.raises(ValueError, match=(
            r"^`compile_kwargs`: build_fn returns a model compiled with \{'optimizer': 'Adam', "
            r"'loss': 'binary_crossentropy', 'metrics': \['accuracy'\]\}, and compile_kwargs="
            r"\{'optimizer': 'sgd', .*\} differ from it\. Pass compile_kwargs=None to train "
            r"with the model's own compile, or return an uncompiled model\.$")):
        ks.sweep(_compiled_binary, _binary_data, seeds=[1, 2], epochs=1, progress=False,
                 store=tmp_path / "other.db", compile_kwargs={
                     "optimizer": "sgd", "loss": "binary_crossentropy", "metrics": ["accuracy"]})
    assert not (tmp_path / "other.db").exists()
    # ks.attribute sweeps the same way.
    result = ks.attribute(_compiled_binary, _binary_data(), sources=("init",), seeds_per_source=3,
                          epochs=1, store=tmp_path / "attribution.db", progress=False)
    assert result.metric == "accuracy"
