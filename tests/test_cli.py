"""The command line: the demo is repeatable, and diff explains manifests."""

import json
from pathlib import Path

from conftest import run_python


def demo(tmp_path, seed, name, capsys=None):
    """``keras-seeds demo`` in a fresh process, or in this one given ``capsys``."""
    argv = ["demo", "--seed", seed, "--epochs", 2, "--manifest", tmp_path / name]
    if capsys is None:
        out = run_python("-m", "keras_seeds.cli", *argv).stdout
    else:
        code, out, _ = _in_process(capsys, *argv)
        assert code == 0
    return dict(line.split(None, 1) for line in out.splitlines()
                if line.split(None, 1)[0] in ("seed", "val_accuracy", "manifest")) | {
        "sha": out.split("weights sha256")[1].split()[0]}


def _in_process(capsys, *argv) -> tuple[int, str, str]:
    """The command run in this process through ``cli.main`` (what needs no
    training needs no TensorFlow start-up): the exit code (argparse's or
    ``main``'s), stdout and stderr."""
    from keras_seeds import cli

    capsys.readouterr()
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exit:
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


def _refused(capsys, *argv) -> tuple[int, str]:
    code, _, err = _in_process(capsys, *argv)
    return code, err


def test_demo_repeats_bit_for_bit_and_diff_explains(tmp_path, capsys):
    a = demo(tmp_path, 5, "a.json")
    b = demo(tmp_path, 5, "b.json")
    c = demo(tmp_path, 6, "c.json", capsys)  # another seed: this process will do
    assert a["seed"] == "5" and a["sha"] == b["sha"] != c["sha"]
    manifest = json.loads((tmp_path / "a.json").read_text())
    assert manifest["result"]["weights_sha256"] == a["sha"]

    code, out, _ = _in_process(capsys, "diff", tmp_path / "a.json", tmp_path / "b.json")
    assert code == 0
    assert "1. The runs match: same inputs and bit-identical final weights." in out
    code, out, _ = _in_process(capsys, "diff", tmp_path / "a.json", tmp_path / "c.json")
    assert code == 1
    assert "1. The seed differs: seed.master is 5 in A and 6 in B" in out


def test_cli_rejects_bad_input_clearly(tmp_path, capsys):
    code, err = _refused(capsys, "demo", "--seed", "-1")
    assert code == 2
    assert "`--seed` must be an int in [0, 2**32 - 1]; received --seed=-1." in err
    (tmp_path / "x.json").write_text("{}")
    code, err = _refused(capsys, "diff", tmp_path / "x.json", tmp_path / "x.json")
    assert code == 2
    assert "is not a keras-seeds manifest" in err


# ------------------------------------------------ keras-seeds study BUILD_FN
def _study(store, *options, build="sweep_job:build", check=True):
    from conftest import SCRIPTS

    return run_python("-m", "keras_seeds.cli", "study", build, "--data", "sweep_job:load",
                      "--seeds", "0..7", "--store", store, "--epochs", 2,
                      "--out", Path(store).parent / f"{Path(store).stem}-report",
                      "--replicas-per-job", 4, "--loss", "sparse_categorical_crossentropy",
                      "--metric", "accuracy", *options, cwd=SCRIPTS, check=check)


def _study_here(capsys, store, *options):
    """``_study`` in this process (no TensorFlow start-up to pay): its stdout.
    Needs ``tests/scripts`` on ``sys.path``."""
    from keras_seeds import cli

    capsys.readouterr()
    assert cli.main(["study", "sweep_job:build", "--data", "sweep_job:load", "--seeds", "0..7",
                     "--store", str(store), "--epochs", "2", "--out",
                     str(Path(store).parent / f"{Path(store).stem}-report"),
                     "--replicas-per-job", "4", "--loss", "sparse_categorical_crossentropy",
                     "--metric", "accuracy", *options]) == 0
    return capsys.readouterr().out


def _rows(store):
    import sqlite3

    with sqlite3.connect(store) as connection:
        return connection.execute(
            "SELECT r.seed, r.status, r.score FROM runs r JOIN configs c "
            "ON c.config_hash = r.config_hash WHERE c.name = 'adam' ORDER BY r.seed").fetchall()


def test_a_killed_cli_sweep_rerun_ends_with_one_row_per_seed_and_the_same_scores(
        tmp_path, capsys, monkeypatch):
    import os
    import signal
    import subprocess
    import sys

    from conftest import SCRIPTS

    # Only the killed run needs a process of its own; the others run here.
    monkeypatch.syspath_prepend(str(SCRIPTS))
    whole = _study_here(capsys, tmp_path / "whole.db", "--config", "adam")
    assert "metric          accuracy (higher is better), 8 seeds" in whole
    _assert_sweep_folder(tmp_path / "whole-report", tmp_path / "whole.db", whole)
    store = tmp_path / "seeds.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "keras_seeds.cli", "study", "sweep_job:build_paused", "--data",
         "sweep_job:load", "--seeds", "0..7", "--store", str(store), "--epochs", "2",
         "--replicas-per-job", "4", "--loss", "sparse_categorical_crossentropy", "--metric",
         "accuracy", "--config", "adam", "--out", str(tmp_path / "killed-report"),
         "--no-export"], cwd=SCRIPTS, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SWEEP_STORE": str(store), "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert process.stdout.readline().strip() == "PAUSED"  # the first chunk is in the store
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert [seed for seed, _, _ in _rows(store)] == [0, 1, 2, 3]
    _study_here(capsys, store, "--config", "adam", "--no-export")
    assert _rows(store) == _rows(tmp_path / "whole.db")  # one row per seed, the same scores

    # A second configuration in the same store, compared seed by seed.
    _study_here(capsys, store, "--config", "sgd", "--optimizer", "sgd", "--no-export")
    from keras_seeds import cli

    assert cli.main(["report", "--store", str(store), "--config", "adam",
                     "--config", "sgd"]) == 0
    report = capsys.readouterr().out
    assert "configuration   adam" in report and "configuration   sgd" in report
    assert "8 shared seeds" in report  # compared seed by seed, on the seeds both have
    # What to ship, from the predictions the sweeps kept: k-seed ensembles, spreads.
    assert "-seed ensemble of" in report and "Brown-Forsythe" in report


def _assert_sweep_folder(folder, store, stdout):
    """The report folder: the report and its figures, the manifest, and the
    ensemble SavedModel that serves the mean of the seeds' stored predictions."""
    import io

    import numpy as np
    import tensorflow as tf

    from keras_seeds.sweeps.store import SeedStore

    assert f"report          {folder / 'report.md'}" in stdout
    assert "ensemble        " in stdout and "Tang et al. 2020" in stdout
    report = (folder / "report.md").read_text()
    assert "## Ensemble" in report and "(without replacement)" in report
    assert sorted(p.name for p in (folder / "report_figures").iterdir())[:2] == [
        "curves_accuracy.png", "curves_loss.png"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["seeds"] == {"done": list(range(8))}
    assert manifest["configuration"]["name"] == "adam"
    assert manifest["ensemble"]["seeds"] == list(range(8))
    assert manifest["environment"]["versions"]["keras_seeds"]
    seed_store = SeedStore(store)
    runs = seed_store.runs(seed_store.find_config("adam"))
    mean = np.mean([np.load(io.BytesIO(run.outputs)) for run in runs], axis=0)
    import importlib.util

    from conftest import SCRIPTS

    spec = importlib.util.spec_from_file_location("sweep_job", SCRIPTS / "sweep_job.py")
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    load = job.load
    loaded = tf.saved_model.load(str(folder / "ensemble"))  # kept: it owns the variables
    served = loaded.serve(load()[1][0])
    np.testing.assert_allclose(served.numpy(), mean, atol=1e-6)
    assert manifest["ensemble"]["score"] == float(np.mean(mean.argmax(-1) == load()[1][1]))


def test_cli_sweep_refuses_bad_input_in_one_line_and_writes_nothing(tmp_path, capsys,
                                                                  monkeypatch):
    import sqlite3
    from types import SimpleNamespace

    from conftest import SCRIPTS

    monkeypatch.chdir(SCRIPTS)
    monkeypatch.syspath_prepend(str(SCRIPTS))

    def _study(store, *options, build="sweep_job:build", check=False):
        """The test's command, run in this process: its refusals need no
        TensorFlow start-up."""
        code, err = _refused(capsys, "study", build, "--data", "sweep_job:load", "--seeds",
                             "0..7", "--store", store, "--epochs", 2, "--out",
                             Path(store).parent / f"{Path(store).stem}-report",
                             "--replicas-per-job", 4, *options)
        return SimpleNamespace(returncode=code, stderr=err)

    store = tmp_path / "seeds.db"
    cases = [
        (("--seeds", "9..2"), "`--seeds` must be FIRST..LAST (FIRST <= LAST), a,b,c or "
                              "random:N; received --seeds='9..2'."),
        (("--seeds", ""), "`--seeds` must be FIRST..LAST"),
    ]
    for options, message in cases:
        result = _study(store, *options, check=False)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().endswith(message) or message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    missing = _study(store, build="no_such_module:build", check=False)
    assert missing.returncode == 2 and "`BUILD_FN`: cannot import module 'no_such_module'" \
        in missing.stderr
    wrong = _study(store, build="sweep_job:not_a_model", check=False)
    assert wrong.returncode == 2
    assert "`BUILD_FN`: sweep_job:not_a_model must return a keras.Model; it returned a list." \
        in wrong.stderr
    assert not store.exists()
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    before = foreign.read_bytes()
    refused = _study(foreign, check=False)
    assert refused.returncode == 2
    assert "is an SQLite database but not a keras-seeds seed store" in refused.stderr
    assert foreign.read_bytes() == before
    from keras_seeds.sweeps.store import SeedStore

    newer = tmp_path / "newer.db"
    SeedStore(newer)
    with sqlite3.connect(newer) as connection:
        connection.execute("PRAGMA user_version = 99")
    before = newer.read_bytes()
    refused = _study(newer, check=False)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "was written by a newer keras-seeds (store schema 99" in refused.stderr
    assert newer.read_bytes() == before
    # /proc takes no new file, even from root (CI runs as root).
    read_only = _study("/proc/seeds.db", check=False)
    assert read_only.returncode == 2 and len(read_only.stderr.strip().splitlines()) == 1
    assert "cannot create the seed store '/proc/seeds.db': directory '/proc' is not " \
           "writable" in read_only.stderr


def test_study_output_on_3_5_and_10_seeds_labels_no_interval_with_a_level_it_lacks(capsys):
    # A study's lines as `keras-seeds study` prints them, for 3, 5 and 10 seeds
    # with per-example correctness on a validation and a test set: each "95%
    # CI" shown is one that keeps its level at that number of seeds in
    # benchmarks/calibration (the t interval from 2 seeds, the distribution-
    # wise std's from 3, shown from 5, Spearman's from 10); the others say
    # they are withheld.
    import numpy as np

    import keras_seeds as ks
    from keras_seeds.cli.commands import print_study as _print_study
    from keras_seeds.statistics.study import INTERVAL_MIN_SEEDS, SPEARMAN_CI_MIN_SEEDS

    rng = np.random.default_rng(0)
    for n in (3, 5, 10):
        skill = rng.normal(0, 0.02, (n, 1))
        validation, test = (rng.random((n, 300)) < 0.85 + skill for _ in range(2))
        study = ks.SeedStudy(validation.mean(axis=1), metric="val_accuracy", correct=validation,
                             test_scores=test.mean(axis=1), test_correct=test)
        capsys.readouterr()
        _print_study(study)
        lines = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines()
                     if line.split(None, 1)[0] in ("mean", "IQM", "seed", "val"))
        summary = study.summary()
        low, high = summary["mean_t_ci"]
        heavy = summary["mean_t_ci_heavy_tail_level"]
        assert heavy == ks.statistics.study.t_interval_heavy_tail_level(n) < 0.95
        assert lines["mean"] == (f"{summary['mean']:.4g} (95% CI {low:.4g} to {high:.4g}, "
                                 f"t interval; {heavy:.0%} if seeds can be black swans)")
        assert n < INTERVAL_MIN_SEEDS["iqm_ci"] and lines["IQM"] == (
            f"{summary['iqm']:.4g} (95% CI withheld: a bootstrap interval of the IQM keeps its "
            f"level from 30 seeds; this study has {n})")
        assert lines["seed"] == f"or set     {study.noise().sentence()}"
        low, high = study.noise().distribution_std_ci
        assert (f"(95% CI {100 * low:.2f} to {100 * high:.2f})" in lines["seed"] if n >= 5 else
                "(95% CI withheld: an interval of the seeds' std needs 5 seeds to bound it "
                "usefully; this study has 3)" in lines["seed"])
        if n < 4:
            assert "val" not in lines                    # no rank correlation of 3 seeds
        elif n < SPEARMAN_CI_MIN_SEEDS:
            assert ("(95% CI withheld: the interval of Spearman's rho keeps its level from 10 "
                    f"seeds; this study has {n})") in lines["val"]
        else:
            low, high = study.test_agreement()["spearman_ci"]
            assert f"(95% CI {low:.4g} to {high:.4g})" in lines["val"]


def test_report_on_a_store_compares_k_seed_ensembles_and_draws_them(tmp_path, capsys):
    # A store as sweeps write it (predictions kept per seed, labels per split),
    # made here without training: what the report reads needs no TensorFlow.
    import numpy as np
    from PIL import Image

    from keras_seeds.statistics.ensembles import ensemble_comparison_from_store
    from keras_seeds.sweeps.store import SeedRun, SeedStore, array_bytes

    store = SeedStore(tmp_path / "seeds.db")
    rng = np.random.default_rng(3)
    labels = {split: rng.integers(0, 2, 120) for split in ("validation", "test")}
    for name, noise in (("diverse", 2.0), ("steady", 0.5)):
        key = store.add_config({"metric": "accuracy", "higher_is_better": True,
                                "noise": noise}, name=name)
        runs = []
        for seed in range(6):
            outputs = {}
            for split, y in labels.items():
                p = 1 / (1 + np.exp(-(0.8 + rng.normal(0, noise, 120))))
                outputs[split] = np.where(y == 1, p, 1 - p)[:, None].astype("float32")
            runs.append(SeedRun(seed, "done", score=float(np.mean(
                (outputs["validation"][:, 0] > 0.5) == labels["validation"])),
                outputs=array_bytes(outputs["validation"]),
                test_outputs=array_bytes(outputs["test"])))
        store.write(key, runs)
        for split, y in labels.items():
            store.set_labels(key, split, y)
    png = tmp_path / "ensembles.png"
    code, out, err = _in_process(capsys, "report", "--store", tmp_path / "seeds.db",
                                 "--config", "diverse", "--config", "steady",
                                 "--ensemble-plot", png)
    assert code == 0, err
    expected = ensemble_comparison_from_store(tmp_path / "seeds.db", "diverse", "steady")
    assert f"To ship: {expected.sentence.rstrip('.')}." in out
    assert f"ensembles plot  {png} (3-seed ensembles of diverse" in out
    assert Image.open(png).size[0] > 100  # a rendered PNG
    code, err = _refused(capsys, "report", "--ensemble-plot", png)
    assert code == 2 and "`--ensemble-plot` draws a store's ensembles" in err
