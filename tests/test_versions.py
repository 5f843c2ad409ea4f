"""The Keras and TensorFlow versions keras-seeds declares: the floor setup.cfg
names is the floor .ci/run tests, below it the command line refuses in one
line before anything runs, and audit says whether the installed versions
were tested."""

import configparser
import os
import re
from pathlib import Path

import pytest

from keras_seeds import _versions

from conftest import run_python

ROOT = Path(__file__).resolve().parents[1]


def _declared_floors() -> dict[str, str]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    requires = config["options"]["install_requires"].split()
    return {name: version for name, version in
            (re.fullmatch(r"([a-z-]+)>=([0-9.]+)", line).groups() for line in requires)
            if name in _versions.FLOOR}


def test_setup_cfg_declares_the_floor_that_ci_runs():
    assert _declared_floors() == _versions.FLOOR == {"keras": "3.13.0", "tensorflow": "2.16.1"}
    assert _versions.floor_pins() == "keras==3.13.0 tensorflow==2.16.1"
    script = (ROOT / "tests" / "run_on_the_floor.sh").read_text()
    assert "floor_pins()" in script and 'KERAS_SEEDS_EXPECTED_VERSIONS="$pins"' in script
    # The README's test command (which .ci/run runs) ends with the floor run.
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci.endswith("&& bash tests/run_on_the_floor.sh"), ci


def _keras_below_the_floor(tmp_path):
    """A folder whose Keras is 3.12.0: the real one the floor run installs
    (KERAS_SEEDS_BELOW_FLOOR), else a package record saying 3.12.0."""
    real = os.environ.get("KERAS_SEEDS_BELOW_FLOOR")
    if real:
        return real, True
    record = tmp_path / "site" / "keras-3.12.0.dist-info"
    record.mkdir(parents=True)
    (record / "METADATA").write_text("Metadata-Version: 2.1\nName: keras\nVersion: 3.12.0\n")
    return str(tmp_path / "site"), False


REFUSAL = ("keras-seeds needs Keras >= 3.13.0; 3.12.0 is installed. "
           "Upgrade with: pip install -U 'keras>=3.13.0'")


def test_below_the_floor_the_command_refuses_in_one_line_and_writes_nothing(tmp_path):
    site, real = _keras_below_the_floor(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    done = run_python("-m", "keras_seeds.cli", "study", "--seed", "42", check=False, cwd=work,
                      env={"PYTHONPATH": os.pathsep.join([site, str(ROOT)])})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"keras-seeds study: error: {REFUSAL}"]
    assert done.stdout == "" and list(work.iterdir()) == []
    if real:  # the Python API too: at the first name that needs Keras
        code = ("import keras_seeds as ks\n"
                "try:\n    ks.SeedCallback\n"
                "except ImportError as error:\n    print(type(error).__name__, '|', error)\n")
        out = run_python("-c", code, env={"PYTHONPATH": os.pathsep.join([site, str(ROOT)])})
        assert out.stdout.strip() == f"UnsupportedVersion | {REFUSAL}"


def test_audit_names_the_versions_and_whether_they_were_tested(monkeypatch):
    import keras
    import tensorflow as tf

    import keras_seeds as ks

    [item] = ks.audit().find("Keras/TensorFlow versions")
    assert item.controlled and item.detail == (
        f"Keras {keras.__version__}, TensorFlow {tf.__version__}: within the tested range "
        "(Keras 3.13-3.15 and TensorFlow 2.16-2.21)")

    found = {"keras": "3.16.0", "tensorflow": tf.__version__}
    monkeypatch.setattr(_versions, "installed", found.get)
    [item] = ks.audit().find("Keras/TensorFlow versions")
    assert item.status == "check"
    assert item.detail.startswith(f"Keras 3.16.0, TensorFlow {tf.__version__}: Keras 3.16.0 "
                                  "outside the tested range")
    assert item.fix == ("for versions keras-seeds is tested on: pip install "
                        "'keras>=3.13,<3.16' 'tensorflow>=2.16,<2.22'")


@pytest.mark.parametrize("version, expected", [
    ("3.13.0", True), ("3.15.9", True), ("3.13.0.dev2025010203", True), ("3.12.4", False),
    ("3.16.0", False), ("4.0.0", False)])
def test_the_tested_range_is_by_minor_version(version, expected):
    assert _versions.within_range(version, _versions.TESTED["keras"]) is expected


def test_the_floor_check_reads_no_keras():
    # The command line refuses before TensorFlow starts: the check imports neither.
    code = ("import sys\nfrom keras_seeds import _versions\n_versions.refusal()\n"
            "print('keras' in sys.modules, 'tensorflow' in sys.modules)")
    assert run_python("-c", code).stdout.split() == ["False", "False"]

