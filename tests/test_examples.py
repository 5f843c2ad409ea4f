"""The example scripts run and print what they say. Those whose claim is about
processes (a run killed and resumed) run as their own processes; the others
(and the script that drives a Dask cluster's worker processes) run in this
one, as ``python examples/NAME ARGS`` would run them (that results repeat
across processes is test_reproducibility's claim): TensorFlow's start-up,
about 10 s here, is then paid once."""

import contextlib
import io
import json
import runpy
import sys
from pathlib import Path

from conftest import dask_group, run_python

ROOT = Path(__file__).parent.parent


def run_example(name: str, *args) -> str:
    """``python examples/NAME ARGS``, run in this process: what it prints."""
    argv, sys.argv = sys.argv, [str(ROOT / "examples" / name), *map(str, args)]
    try:
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            runpy.run_path(sys.argv[0], run_name="__main__")
    finally:
        sys.argv = argv
    return printed.getvalue()


def test_reproducible_fit_example_prints_its_audit_and_weights_hash():
    # That the hash repeats across processes is test_reproducibility's claim.
    out = run_example("reproducible_fit.py", 9)
    assert len(out.split("weights ")[-1].strip()) == 64
    assert "[  controlled  ] Dropout" in out and "seed 9 accuracy" in out


def test_seed_replicas_example_reports_each_seed_and_the_ensemble():
    # Replica-vs-solo and cross-process bits are test_replica_equality's claims.
    out = run_example("seed_replicas.py", 7)
    per_seed = out.split("val accuracy per seed ")[1].splitlines()[0]
    assert len(json.loads(per_seed)) == 8
    assert "ensemble of the 8 seeds:" in out


def test_seed_ensemble_example_serves_what_keras_predicts(tmp_path):
    out = run_example("seed_ensemble.py", tmp_path)
    served = out.split("served classes: ")[1].split(" keras_seeds loaded")[0]
    in_keras = out.split("in Keras:")[1].strip()
    assert served == in_keras
    assert "keras_seeds loaded: False" in out
    assert (tmp_path / "digits_ensemble" / "saved_model.pb").exists()


def test_seed_study_example_verdict_is_what_the_saved_studies_say(tmp_path):
    import keras_seeds as ks

    out = run_example("seed_study.py", tmp_path)
    verdict = out.split("verdict: ")[1].splitlines()[0]
    studies = [ks.SeedStudy.load(tmp_path / f"{name}.json") for name in ("dropout", "no_dropout")]
    assert verdict == str(ks.compare(*studies))          # recomputed here from the JSON
    assert [s.n for s in studies] == [8, 8]
    assert studies[0].seeds.tolist() == studies[1].seeds.tolist()
    assert (tmp_path / "dropout_report_figures" / "distribution.png").exists()


def test_resume_example_ends_bit_identical_to_the_uninterrupted_run(tmp_path):
    out = run_python(ROOT / "examples" / "resume_run.py", tmp_path).stdout
    assert "kill at batch 40): exit code -9" in out
    assert out.strip().endswith("bit-identical weights and History: True")
    hashes = [line.split()[-1] for line in out.splitlines() if line.startswith(("unin", "res"))]
    assert len(hashes) == 2 and len(hashes[0]) == 64 and hashes[0] == hashes[1]


@dask_group
def test_sweep_example_on_a_dask_cluster_fills_the_store_and_a_rerun_trains_nothing(
        tmp_path, dask_client):
    # That a cluster's rows equal this process's, seed by seed, is asserted by
    # notebook 04 and test_sweep_dask. The cluster's workers are processes of
    # their own (the suite's shared cluster, given by its address as a user gives
    # theirs; notebook 04 starts a local one as `--dask` alone does); the script
    # that drives them runs here.
    import keras_seeds as ks

    store = tmp_path / "seeds.db"
    on_dask = run_example("seed_sweep.py", store, "--dask", dask_client.scheduler.address)
    assert "48 seeds in" in on_dask and "(0 were there before this run)" in on_dask
    study = ks.SeedStudy.from_store(store)
    assert study.seeds.tolist() == list(range(48))
    # The rerun trains nothing, so it needs no process of its own: its main() here.
    example = runpy.run_path(str(ROOT / "examples" / "seed_sweep.py"))
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        example["main"](str(store), False)
    again = printed.getvalue()
    assert "(48 were there before this run)" in again
    assert again.splitlines()[1:] == on_dask.splitlines()[1:]   # the same summary
    # `--dask` alone starts a local cluster, as notebook 04 does.
    assert example["parse"](["s.db", "--dask"]) == ("s.db", True)
    assert example["parse"](["--dask", "tcp://10.0.0.1:8786", "s.db"]) == (
        "s.db", "tcp://10.0.0.1:8786")
    assert example["parse"]([]) == ("seeds.db", False)
