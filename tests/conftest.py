import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parent / "scripts"


def run_python(*args, env=None, check=True, cwd=None):
    """Runs `python *args` in a fresh process; returns the CompletedProcess."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    result = subprocess.run([sys.executable, *map(str, args)], capture_output=True,
                            text=True, env=full_env, timeout=600, cwd=cwd)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


def run_script_json(name, *args):
    """Runs tests/scripts/NAME in a fresh process and parses its last stdout line."""
    out = run_python(SCRIPTS / name, *args).stdout.strip().splitlines()[-1]
    return json.loads(out)


@pytest.fixture(autouse=True)
def _determinism_off_after_test():
    # Op determinism is process-wide; tests that turn it on must not leak it.
    yield
    from keras_seeds.seeding.determinism import disable_determinism

    disable_determinism()
