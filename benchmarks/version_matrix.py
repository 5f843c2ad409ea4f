"""The main job on every declared TensorFlow/Keras pairing: the same answers,
or a one-line refusal before training (issue 33).

For each pairing it runs ``keras-seeds study --seed 42`` in a fresh folder of
a venv of its own (one venv per TensorFlow version, Keras swapped in it) and
compares what the job prints and the ``study.json`` it writes (every seed's
score, curve and per-example correctness, bit for bit; the diversity statistics
computed from them to 1e-9) with the same job in this interpreter (the CI
versions). Prints one line per pairing:

    tensorflow keras  outcome                               seconds

Run: ``python benchmarks/version_matrix.py [--work DIR]`` (the venvs are
kept in DIR, by default ``.venv-matrix``; the first run downloads each
TensorFlow once, about 600 MB). Results: docs/versions.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# TensorFlow version -> the Keras versions run with it. 2.16.1 + 3.13.0 is the
# declared floor; 3.12.0 lies below it and must be refused.
PAIRINGS = {
    "2.16.1": ["3.12.0", "3.13.0", "3.15.1"],
    "2.19.1": ["3.13.2", "3.14.1", "3.15.1"],
    "2.20.0": ["3.13.2", "3.14.1", "3.15.1"],
}


def run_study(python: Path) -> dict:
    """Runs the main job with ``python``; returns its output and study digest."""
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore",
               "PYTHONPATH": str(ROOT)}  # this checkout, whichever venv runs it
        start = time.perf_counter()
        done = subprocess.run([str(python), "-m", "keras_seeds.cli", "study", "--seed", "42"],
                              cwd=folder, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        path = Path(folder) / "keras-seeds-study" / "study.json"
        study = json.loads(path.read_text()) if path.exists() else None
        leftovers = sorted(p.name for p in Path(folder).iterdir())
    return {"code": done.returncode, "stdout": done.stdout, "stderr": done.stderr,
            "study": study, "seconds": seconds, "files": leftovers}


def study_difference(study: dict, reference: dict) -> str:
    """How two study.json differ: ``""`` when the trainings' outputs (seeds,
    scores, curves, per-example correctness) are equal bit for bit and the
    diversity statistics to 1e-9 (they come from the replicas' predicted
    probabilities, whose last bits differ between TensorFlow releases); else
    the fields that differ, and by how much for diversity."""
    study, reference = dict(study), dict(reference)
    diversity, reference_diversity = study.pop("diversity"), reference.pop("diversity")
    differing = [name for name in study if study[name] != reference.get(name)]
    worst = max(abs(value - reference_diversity[name]) / max(abs(reference_diversity[name]),
                                                             1e-300)
                for name, value in diversity.items())
    if worst > 1e-9:
        differing.append(f"diversity (relative {worst:.1e})")
    return ", ".join(differing) or (f"diversity within {worst:.0e} relative" if worst else "")


def venv_for(work: Path, tensorflow: str) -> Path:
    venv = work / f"tf-{tensorflow}"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"tensorflow=={tensorflow}",
                        "-e", str(ROOT)], check=True)
    return python


def use_keras(python: Path, keras: str) -> None:
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", f"keras=={keras}"],
                   check=True)


def outcome(result: dict, reference: dict) -> str:
    if result["code"] != 0:
        lines = result["stderr"].strip().splitlines()
        shown = lines[-1] if lines else "(nothing on stderr)"
        how = "one line" if len(lines) == 1 else f"{len(lines)} lines"
        return f"refused ({how}, exit {result['code']}, files {result['files']}): {shown}"
    same_report = result["stdout"] == reference["stdout"]
    difference = study_difference(result["study"], reference["study"])
    if same_report and not difference:
        return "same report and study.json, bit for bit"
    if same_report and difference.startswith("diversity within"):
        return f"same report; study.json bit for bit but {difference}"
    return f"DIFFERS (report same: {same_report}; study.json: {difference})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / ".venv-matrix")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    import keras
    import tensorflow as tf

    reference = run_study(Path(sys.executable))
    assert reference["code"] == 0, reference["stderr"][-2000:]
    print(f"{'tensorflow':<11}{'keras':<8}{'outcome':<60}seconds")
    print(f"{tf.__version__:<11}{keras.__version__:<8}{'the reference (CI versions)':<60}"
          f"{reference['seconds']:.0f}", flush=True)
    differs = 0
    for tensorflow, kerases in PAIRINGS.items():
        python = venv_for(args.work, tensorflow)
        for version in kerases:
            use_keras(python, version)
            result = run_study(python)
            text = outcome(result, reference)
            differs += text.startswith("DIFFERS")
            print(f"{tensorflow:<11}{version:<8}{text:<60}  {result['seconds']:.0f}", flush=True)
            if text.startswith("DIFFERS"):
                print(result["stdout"])
    return 1 if differs else 0


if __name__ == "__main__":
    sys.exit(main())
