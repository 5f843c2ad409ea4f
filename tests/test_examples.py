"""The example script and the notebook run and repeat bit for bit."""

import json
from pathlib import Path

from conftest import run_python

ROOT = Path(__file__).parent.parent


def test_example_script_repeats_its_weights():
    outputs = [run_python(ROOT / "examples" / "reproducible_fit.py", 9).stdout
               for _ in range(2)]
    hashes = [out.split("weights ")[-1].strip() for out in outputs]
    assert len(hashes[0]) == 64 and hashes[0] == hashes[1]
    assert "[  controlled  ] Dropout" in outputs[0]


def run_notebook(name, cwd):
    """Runs a notebook's code cells, in order, as one script; returns its stdout."""
    notebook = json.loads((ROOT / "notebooks" / name).read_text())
    code = "\n".join("".join(c["source"]) for c in notebook["cells"]
                     if c["cell_type"] == "code")
    return run_python("-c", code, cwd=cwd).stdout


def test_notebook_code_cells_run(tmp_path):
    out = run_notebook("01_reproducible_training.ipynb", tmp_path)
    assert "[42, 42, 42]" in out
    assert json.loads((tmp_path / "notebook-run.json").read_text())["status"] == "finished"


def test_seed_replicas_example_repeats_its_numbers():
    outputs = [run_python(ROOT / "examples" / "seed_replicas.py", 7).stdout for _ in range(2)]
    assert outputs[0] == outputs[1]
    per_seed = outputs[0].split("val accuracy per seed ")[1].splitlines()[0]
    assert len(json.loads(per_seed)) == 8
    assert "ensemble of the 8 seeds:" in outputs[0]


def test_seed_ensemble_example_serves_what_keras_predicts(tmp_path):
    out = run_python(ROOT / "examples" / "seed_ensemble.py", tmp_path).stdout
    served = out.split("served classes: ")[1].split(" keras_seeds loaded")[0]
    in_keras = out.split("in Keras:")[1].strip()
    assert served == in_keras
    assert "keras_seeds loaded: False" in out
    assert (tmp_path / "digits_ensemble" / "saved_model.pb").exists()


def test_seed_replicas_notebook_code_cells_run(tmp_path):
    out = run_notebook("02_seed_replicas.ipynb", tmp_path)
    assert out.strip().endswith("4 True")
    assert (tmp_path / "replicas.keras").exists()


def test_seed_study_example_verdict_is_what_the_saved_studies_say(tmp_path):
    import keras_seeds as ks

    out = run_python(ROOT / "examples" / "seed_study.py", tmp_path).stdout
    verdict = out.split("verdict: ")[1].splitlines()[0]
    studies = [ks.SeedStudy.load(tmp_path / f"{name}.json") for name in ("dropout", "no_dropout")]
    assert verdict == str(ks.compare(*studies))          # recomputed here from the JSON
    assert [s.n for s in studies] == [8, 8]
    assert studies[0].seeds.tolist() == studies[1].seeds.tolist()
    assert (tmp_path / "dropout_report_figures" / "distribution.png").exists()


def test_seed_study_notebook_code_cells_run(tmp_path):
    out = run_notebook("03_seed_study.ipynb", tmp_path)
    assert out.strip().endswith("True mlp")
    assert "mlp beats small beyond seed noise" in out
    assert (tmp_path / "report_figures" / "expected_max.png").exists()
