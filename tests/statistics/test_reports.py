"""Plots, reports and saved studies: PNGs that open, reports that hold the numbers,
JSON that round-trips, and the command line."""

import base64
import json
import math

import numpy as np
import pytest
from PIL import Image

import keras_seeds as ks
from keras_seeds.statistics import study as study_module

from conftest import run_python

RNG = np.random.default_rng(5)


def full_study():
    scores = np.append(RNG.normal(0.9, 0.01, 11), [0.7, np.nan])
    curves = {"val_accuracy": RNG.random((6, 13)), "val_loss": RNG.random((6, 13))}
    curves["val_loss"][2, :] = np.nan                      # an epoch where every seed diverged
    with pytest.warns(ks.SeedStudyWarning, match="dropped 1 NaN"):
        return ks.SeedStudy(scores, seeds=range(100, 113), metric="val_accuracy", name="mlp",
                            test_scores=np.append(RNG.normal(0.9, 0.01, 12), 0.5),
                            curves=curves, ensemble_score=0.93,
                            diversity={"disagreement": 0.04, "pairwise_kl": 0.1})


def assert_png(path, size=(640, 400)):
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == size
        image.verify()


def test_every_plot_renders_to_a_png_file(tmp_path):
    study = full_study()
    figures = {
        "distribution": study.plot_distribution(tmp_path / "distribution.png"),
        "curves": study.plot_curves(path=tmp_path / "curves.png"),
        "loss": study.plot_curves("val_loss", path=tmp_path / "loss.png"),
        "expected_max": study.plot_expected_max(tmp_path / "expected_max.png"),
        "val_vs_test": study.plot_val_vs_test(tmp_path / "val_vs_test.png"),
    }
    for name in figures:
        assert_png(tmp_path / f"{name}.png")
    labels = [text.get_text() for text in figures["distribution"].axes[0].texts]
    assert labels == ["seed 111"]                          # the black swan, by its seed
    assert figures["curves"].axes[0].get_ylabel() == "accuracy"
    assert figures["val_vs_test"].axes[0].get_title().startswith(
        "val_accuracy: validation vs test, 12 seeds (Spearman rho ")


def test_plots_say_what_is_missing():
    bare = ks.SeedStudy([0.9, 0.8])
    with pytest.raises(ValueError, match=r"this study has no learning curves; make it with "
                                         r"SeedStudy.from_history"):
        bare.plot_curves()
    with pytest.raises(ValueError, match="this study has no test scores"):
        bare.plot_val_vs_test()
    with pytest.raises(ValueError, match=r"`name`: 'acc' has no curves in this study; "
                                         r"known names: \['val_accuracy', 'val_loss'\]"):
        full_study().plot_curves("acc")


def test_markdown_report_holds_the_tables_and_its_figures(tmp_path):
    study = full_study()
    study.report(tmp_path / "report.md")
    text = (tmp_path / "report.md").read_text()
    summary = study.summary()
    assert text.startswith("# Seed study: val_accuracy over 12 seeds (mlp)\n")
    assert f"| mean | {summary['mean']:.4g} |" in text
    low, high = summary["mean_t_ci"]
    assert f"| 95% CI of the mean (t) | {low:.4g} to {high:.4g} |" in text
    # 12 seeds: the bootstrap intervals would not keep their level, and say so.
    assert ("| CI of the mean (bootstrap) | 95% CI withheld: a bootstrap interval of the mean "
            "keeps its level from 200 seeds; this study has 12 |") in text
    assert ("| CI of the IQM (bootstrap) | 95% CI withheld: a bootstrap interval of the IQM "
            "keeps its level from 30 seeds; this study has 12 |") in text
    heavy = study_module.t_interval_heavy_tail_level(12)
    assert f"| level of that interval with black-swan seeds | {heavy:.0%} |" in text
    assert (f"(t interval); if seeds can be black swans (one in 16, five stds below the "
            f"others) it covers {heavy:.0%}.") in text
    assert ("Intervals that would not keep their level with this many seeds are withheld: "
            "mean_ci, a bootstrap interval of the mean keeps") in text
    assert "| 111 | 0.7 | " in text and "| worse |" in text      # the black swan
    assert ("| worse | an outlier by the median/MAD rule (no per-example values to judge the "
            "set's noise) |") in text
    assert (f"| 12 | {study.expected_max(12):.4g} | "
            f"{study.expected_max(12, 'without_replacement'):.4g} | ") in text
    assert "Tang et al. 2020" in text
    width = (summary["mean_t_ci"][1] - summary["mean_t_ci"][0]) / 2   # half today's width
    assert ("narrower than each width with probability 80%, allowing for the spread of these "
            "12 seeds being uncertain itself (normal scores; about 70% with heavy tails).") in text
    assert f"| {width:.4g} | {study.seeds_needed(width)} |" in text   # 80% assurance
    assert "1 seed(s) with NaN scores were left out: 112." in text
    figures = sorted(p.name for p in (tmp_path / "report_figures").iterdir())
    assert figures == ["curves_accuracy.png", "curves_loss.png", "distribution.png",
                       "expected_max.png", "val_vs_test.png"]
    for name in figures:
        assert f"](report_figures/{name})" in text
        assert_png(tmp_path / "report_figures" / name)


def test_html_report_is_one_self_contained_file(tmp_path):
    full_study().report(tmp_path / "report.html", title="Seeds of the MLP")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    text = (tmp_path / "report.html").read_text()
    assert "<h1>Seeds of the MLP</h1>" in text
    images = text.split('src="data:image/png;base64,')[1:]
    assert len(images) == 5
    for image in images:
        assert base64.b64decode(image.split('"')[0])[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_refuses_a_bad_path_and_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match=r"`path` must end in .md, .markdown, .html, .htm "
                                         r"\(the report's format\); received path="):
        full_study().report(tmp_path / "report.txt")
    with pytest.raises(FileNotFoundError, match=r"`path`: directory '.*/nope' does not exist"):
        full_study().report(tmp_path / "nope" / "report.md")
    assert list(tmp_path.iterdir()) == []


def test_to_dict_and_save_round_trip_everything(tmp_path):
    study = full_study()
    data = json.loads(json.dumps(study.to_dict(), allow_nan=False))   # valid JSON: no NaN
    back = ks.SeedStudy.from_dict(data)
    for name in ("scores", "seeds", "dropped_seeds", "test_scores"):
        np.testing.assert_array_equal(getattr(back, name), getattr(study, name))
    for name in study.curves:
        np.testing.assert_array_equal(back.curves[name], study.curves[name])  # NaN included
    for name in ("metric", "name", "higher_is_better", "ensemble_score", "diversity"):
        assert getattr(back, name) == getattr(study, name)
    study.save(tmp_path / "study.json")
    loaded = ks.SeedStudy.load(tmp_path / "study.json")
    assert loaded.summary() == study.summary()
    unusual = ks.SeedStudy([0.9, 0.8], ensemble_score=float("nan"),
                           diversity={"pairwise_kl": float("inf")})   # a 0 probability
    unusual.save(tmp_path / "unusual.json")
    assert math.isnan(ks.SeedStudy.load(tmp_path / "unusual.json").diversity["pairwise_kl"])
    (tmp_path / "partial.json").write_text('{"format": "keras-seeds-study/1", "scores": [1]}')
    with pytest.raises(ValueError, match=r"partial.json': not a complete keras-seeds study: "
                                         r"missing \['seeds'\]\."):
        ks.SeedStudy.load(tmp_path / "partial.json")
    float32 = ks.SeedStudy(np.float32([0.9416667, 0.93055558]))     # as Keras metrics are
    float32.save(tmp_path / "f32.json")
    np.testing.assert_array_equal(ks.SeedStudy.load(tmp_path / "f32.json").scores,
                                  float32.scores)
    (tmp_path / "other.json").write_text('{"format": "keras-seeds-manifest/1"}')
    with pytest.raises(ValueError, match=r"other.json': not a keras-seeds study: expected "
                                         r"a dict with format='keras-seeds-study/1'"):
        ks.SeedStudy.load(tmp_path / "other.json")


def test_to_frame_has_one_row_per_seed():
    import pandas as pd

    frame = full_study().to_frame()
    assert isinstance(frame, pd.DataFrame) and frame.index.name == "seed"
    assert list(frame.columns) == ["val_accuracy", "test_accuracy", "robust_z"]
    assert frame.loc[111, "val_accuracy"] == 0.7 and len(frame) == 12


def test_to_frame_without_pandas_says_how_to_get_it():
    code = ("import sys; sys.modules['pandas'] = None\n"
            "import keras_seeds as ks\n"
            "try:\n    ks.SeedStudy([1.0]).to_frame()\n"
            "except ImportError as error:\n    print(error)\n")
    out = run_python("-c", code).stdout
    assert "SeedStudy.to_frame needs pandas, which is not installed; `pip install pandas`" in out


# ---------------------------------------------------------------- command line
def test_study_command_repeats_bit_for_bit_and_report_and_compare_read_it(tmp_path, capsys):
    runs = [run_python("-m", "keras_seeds.cli", "study", "--seed", 3, "--replicas", 4,
                       "--epochs", 3, "--out", tmp_path / name) for name in ("a", "b")]
    assert (tmp_path / "a" / "study.json").read_bytes() == (tmp_path / "b" / "study.json"
                                                            ).read_bytes()
    assert runs[0].stdout == runs[1].stdout.replace(str(tmp_path / "b"), str(tmp_path / "a"))
    study = ks.SeedStudy.load(tmp_path / "a" / "study.json")
    assert study.n == 4 and study.metric == "accuracy" and study.test_scores is not None
    assert set(study.curves) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert f"mean            {study.summary()['mean']:.4g}" in runs[0].stdout
    assert (tmp_path / "a" / "report.md").exists()
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["seed"] == 3 and len(manifest["replicas"]["replica_seeds"]) == 4
    assert (tmp_path / "a" / "ensemble" / "saved_model.pb").exists()
    from keras_seeds.cli import build_parser

    assert build_parser().parse_args(["study"]).replicas == 64  # the bundled study's seeds

    # The commands that only read studies run here (no process start-up to pay).
    from keras_seeds.cli import main

    def command(*args):
        capsys.readouterr()
        code = main([str(arg) for arg in args])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = command("report", tmp_path / "a" / "study.json", "-o", tmp_path / "again.html")
    assert code == 0 and f"report          {tmp_path / 'again.html'}" in out
    assert (tmp_path / "again.html").read_text().count("data:image/png;base64,") == 5

    _, compared, _ = command("compare", tmp_path / "a" / "study.json",
                             tmp_path / "b" / "study.json")
    assert "No evidence of a difference between" in compared and "with 4 and 4 seeds" in compared
    assert "The means are equal" in compared
    _, paired, _ = command("compare", tmp_path / "a" / "study.json",
                           tmp_path / "b" / "study.json", "--paired")
    assert "4 shared seeds (4 of them tied) are too few for the signed-rank test" in paired
    assert "Every seed scores the same" in paired

    code, _, err = command("report", tmp_path / "nope.json")
    assert code == 2 and "keras-seeds report: error:" in err
    assert not math.isnan(study.ensemble_score)
