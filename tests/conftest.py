import atexit
import functools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parent / "scripts"

# xdist (--dist loadgroup) hands out the groups of several tests first, then
# single tests in collection order: the files with the slowest single tests (a
# notebook, an example, a command run in processes) are collected first, so
# that none of them starts last and keeps one worker busy alone at the end.
RUN_FIRST = ("tests/test_notebooks.py", "tests/test_examples.py", "tests/test_cli.py",
             "tests/statistics/test_reports.py")


def pytest_collection_modifyitems(items):
    # A stable sort: the order within each file stays.
    items.sort(key=lambda item: next((rank for rank, path in enumerate(RUN_FIRST)
                                      if item.nodeid.startswith(path)), len(RUN_FIRST)))


def run_python(*args, env=None, check=True, cwd=None):
    """Runs `python *args` in a fresh process; returns the CompletedProcess."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    result = subprocess.run([sys.executable, *map(str, args)], capture_output=True,
                            text=True, env=full_env, timeout=600, cwd=cwd)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


def run_script_json(name, *args, env=None):
    """Runs tests/scripts/NAME in a fresh process and parses its last stdout line."""
    out = run_python(SCRIPTS / name, *args, env=env).stdout.strip().splitlines()[-1]
    return json.loads(out)


# One JAX compilation cache for the test session's JAX processes: the same
# steps (solo runs of four seeds, two processes of one script) compile once.
JAX_CACHE = Path(tempfile.gettempdir()) / f"keras-seeds-tests-jax-cache-{os.getuid()}"


def jax_env(cache: bool = True) -> dict:
    """The environment of a test subprocess on the JAX backend."""
    env = {"KERAS_BACKEND": "jax"}
    if cache:
        env.update(JAX_COMPILATION_CACHE_DIR=str(JAX_CACHE),
                   JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    return env


# The tests that need a Dask cluster share one: group "dask" runs them on one worker.
dask_group = pytest.mark.xdist_group("dask")


@functools.lru_cache(maxsize=None)
def _dask_client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None)
    client = Client(cluster)

    def close():
        client.close()
        cluster.close()

    atexit.register(close)
    return client


@pytest.fixture
def dask_client():
    """A real Dask cluster on 127.0.0.1: two worker processes, one thread each.
    One per test process, kept while it lives (pytest would tear a module
    fixture down whenever xdist runs another module's test in between)."""
    client = _dask_client()
    client.wait_for_workers(2)
    return client


@pytest.fixture(autouse=True)
def _determinism_off_after_test():
    # Op determinism is process-wide; tests that turn it on must not leak it.
    yield
    from keras_seeds.seeding.determinism import disable_determinism

    disable_determinism()
