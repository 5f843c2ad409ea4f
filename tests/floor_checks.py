"""Checks that mean something only on the declared floor: run by
tests/run_on_the_floor.sh, with this file named on its command line (pytest
collects only test_*.py files by itself). The reference is the interpreter of
the main suite, with the CI versions (KERAS_SEEDS_REFERENCE_PYTHON)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_main_job_answers_as_on_the_reference_versions(tmp_path):
    reference = os.environ["KERAS_SEEDS_REFERENCE_PYTHON"]
    outputs = {}
    for side, python in (("reference", reference), ("here", sys.executable)):
        (tmp_path / side).mkdir()
        done = subprocess.run(
            [python, "-W", "ignore", "-m", "keras_seeds.cli", "study", "--seed", "42",
             "--replicas", "4", "--epochs", "3", "--out", "study"], cwd=tmp_path / side,
            capture_output=True, text=True, timeout=600,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stderr[-3000:]
        outputs[side] = (done.stdout,
                         json.loads((tmp_path / side / "study" / "study.json").read_text()))
    (report, study), (reference_report, reference_study) = outputs["here"], outputs["reference"]
    assert "metric          accuracy (higher is better), 4 seeds" in report
    assert report == reference_report
    # Training is bit for bit: seeds, scores, loss curves, which example each
    # seed got right. The diversity statistics come from the replicas'
    # predicted probabilities, whose last bits differ between TensorFlow
    # releases (their CPU kernels; 1e-11 relative, docs/versions.md).
    diversity, reference_diversity = study.pop("diversity"), reference_study.pop("diversity")
    assert study == reference_study
    assert diversity.keys() == reference_diversity.keys()
    for name, value in diversity.items():
        assert value == pytest.approx(reference_diversity[name], rel=1e-9, abs=0), name
