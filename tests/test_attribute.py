"""attribute: each source of randomness varied alone, as fused replicas; the
statistics recover known per-source variances; bad input is refused by name."""

import json

import numpy as np
import pytest

import keras_seeds as ks
from keras_seeds.attributions import group_seeds
from keras_seeds.statistics.attribution import attribute_variance
from keras_seeds.store import SeedStore

TRUE_STD = {"init": 0.02, "data": 0.01, "noise": 0.005}


def _synthetic(rng, seeds=32):
    """An additive model: a run's score is 0.9 plus one independent effect per
    source; a group that pins the other sources keeps only its own effect."""
    groups = {source: ks.SeedStudy(0.9 + rng.normal(0, std, seeds))
              for source, std in TRUE_STD.items()}
    total = ks.SeedStudy(0.9 + sum(rng.normal(0, std, seeds) for std in TRUE_STD.values()))
    return groups, total


def test_a_synthetic_additive_model_is_recovered_within_the_intervals():
    result = attribute_variance(*_synthetic(np.random.default_rng(0)))
    total_variance = sum(std ** 2 for std in TRUE_STD.values())
    for group in result.sources:
        truth = TRUE_STD[group.source] ** 2
        assert group.variance_ci[0] <= truth <= group.variance_ci[1], group
        assert group.share_ci[0] <= truth / total_variance <= group.share_ci[1], group
    assert result.total.variance_ci[0] <= total_variance <= result.total.variance_ci[1]
    assert [g.source for g in sorted(result.sources, key=lambda g: -g.share)] == [
        "init", "data", "noise"]


def test_the_intervals_cover_the_true_variances_and_shares_in_90_of_100_attributions():
    rng = np.random.default_rng(1)
    total_variance = sum(std ** 2 for std in TRUE_STD.values())
    covered = {source: [0, 0] for source in TRUE_STD}
    for _ in range(100):
        for group in attribute_variance(*_synthetic(rng, seeds=16)).sources:
            truth = TRUE_STD[group.source] ** 2
            covered[group.source][0] += group.variance_ci[0] <= truth <= group.variance_ci[1]
            covered[group.source][1] += (group.share_ci[0] <= truth / total_variance
                                         <= group.share_ci[1])
    assert all(variance >= 90 and share >= 90 for variance, share in covered.values()), covered


def test_the_digits_mlp_attribution_prints_the_table_writes_the_plot_and_fuses_the_groups(
        tmp_path, capsys, monkeypatch):
    from keras_seeds import cli, sweeps

    fits, train = [], sweeps._Chunks.train

    def counted(job, chunk, done):
        fits.append(list(chunk))
        return train(job, chunk, done)

    monkeypatch.setattr(sweeps._Chunks, "train", counted)
    store, out = tmp_path / "attribution.db", tmp_path / "out"
    capsys.readouterr()
    assert cli.main(["attribute", "keras_seeds.demo:digits_mlp", "--data",
                     "keras_seeds.demo:digits_data", "--seeds-per-source", "4", "--epochs", "2",
                     "--replicas-per-job", "8", "--loss", "sparse_categorical_crossentropy",
                     "--metric", "accuracy", "--store", str(store), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert lines[0].split()[:3] == ["source", "varied", "seeds"]
    assert [line.split()[0] for line in lines[1:6]] == ["init", "data", "noise", "all",
                                                         "finite-set"]
    assert "Varied alone, each source gives this share" in printed
    assert (out / "attribution.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((out / "attribution.json").read_text())
    assert [g["source"] for g in saved["sources"]] == ["init", "data", "noise"]
    # 16 runs in two fused fits of 8, each holding two groups' replicas.
    groups = {source: group_seeds(0, source, 4) for source in ("init", "data", "noise", "all")}
    assert fits == [groups["init"] + groups["data"], groups["noise"] + groups["all"]]
    # Each group is a configuration of its own, its runs' pins recorded: the
    # init group shares the base seed's data order and noise, one init each.
    seed_store = SeedStore(store)
    base = ks.Seeds(0)
    for source in ("init", "data", "noise"):
        runs = seed_store.runs(seed_store.find_config(f"attribution/{source}"))
        assert sorted(run.seed for run in runs) == sorted(groups[source])
        sub_seeds = [run.sub_seeds["subseeds"] for run in runs]
        for name in ("init", "data", "noise"):
            values = {s[name] for s in sub_seeds}
            assert values == ({base[name]} if name != source else values) and (
                name != source or len(values) == 4)
    study = ks.SeedStudy.from_store(store, "attribution/all")
    assert study.n == 4 and study.correct.shape == (4, 360)


def test_the_split_source_trains_and_scores_each_run_on_its_own_split(tmp_path):
    from keras_seeds.data_order.split import split_rows
    from keras_seeds.demo import digits_mlp, digits_xy

    x, y = (a[:600] for a in digits_xy())
    store = tmp_path / "attribution.db"
    result = ks.attribute(digits_mlp, lambda: (x, y), validation_split=0.25, sources=["split"],
                          seeds_per_source=2, epochs=1, replicas_per_job=1, store=store,
                          progress=False)
    assert [group.source for group in result.sources] == ["split"]
    assert result.sources[0].distribution_variance is None and result.floor is None
    seed_store = SeedStore(store)
    key = seed_store.find_config("attribution/split")
    runs = seed_store.runs(key)
    validations = []
    for run in runs:
        seeds = ks.Seeds.from_config(run.sub_seeds)
        assert seeds.pinned["init"] == ks.Seeds(0).init and "split" not in seeds.pinned
        train, validation = split_rows(600, 0.25, seeds.split)
        validations.append(tuple(validation))
        # The run is the solo run of its seeds on its own training rows, scored
        # on its own validation rows.
        alone = ks.SeededModel(digits_mlp, seeds=[seeds])
        alone.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        alone.fit(x[train], y[train], epochs=1, verbose=0)
        # (Keras' accuracy is a float32 mean; one example moves it by 1/150.)
        assert run.score == pytest.approx(
            alone.evaluate_replicas(x[validation], y[validation])["accuracy"][0], abs=1e-6)
        assert run.manifest["validation_rows"] == 150
    assert len(set(validations)) == 2  # two splits
    assert seed_store.examples(key) == {}  # no common examples to analyse


@pytest.mark.parametrize("options, message", [
    (dict(sources=["init", "order"]), "`sources` must be sub-seed names among"),
    (dict(sources=[]), "`sources` must be sub-seed names among"),
    (dict(sources=["split"]), "`sources`: 'split' varies the train/validation split, which "
                              "needs data that the library splits: pass data=(x, y) with "
                              "validation_split=0.2"),
    (dict(validation_split=1.0), "`validation_split` must be a float in (0, 1)"),
    (dict(seeds_per_source=1), "`seeds_per_source` must be an int >= 2 (a variance needs "
                               "two runs); received seeds_per_source=1."),
])
def test_bad_arguments_are_refused_before_training(tmp_path, options, message):
    with pytest.raises(ValueError) as error:
        ks.attribute(lambda: None, None, epochs=1, store=tmp_path / "a.db", **options)
    assert message in str(error.value)
    assert not (tmp_path / "a.db").exists()


def test_the_command_line_refuses_an_unknown_source_before_tensorflow_starts(capsys):
    from keras_seeds import cli

    capsys.readouterr()
    code = cli.main(["attribute", "keras_seeds.demo:digits_mlp", "--data",
                     "keras_seeds.demo:digits_data", "--sources", "init,weights"])
    assert code == 2
    assert "`sources` must be sub-seed names among init, data, noise, augment, split" in \
        capsys.readouterr().err
