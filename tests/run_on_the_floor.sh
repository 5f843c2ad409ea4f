#!/usr/bin/env bash
# The suite's core on the oldest TensorFlow and Keras that setup.cfg declares
# (keras_seeds/_versions.py: FLOOR), in a venv of its own: seeding, data order,
# replicas (Keras 3.13 sorts its metric results), resume in one process (the
# SIGKILL tests run in the main suite), Keras' own callback tests, the version
# checks, and the main job, whose answers must equal those of the versions the
# main suite ran on. The README's test command runs it after the suite; arguments
# are passed on to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

pins=$(python -c "from keras_seeds._versions import floor_pins; print(floor_pins())")
# keras-seeds' other requirements and the suite's pytest pins, from setup.cfg.
requirements=$(python -c '
import configparser
config = configparser.ConfigParser()
config.read("setup.cfg")
needs = [line for line in config["options"]["install_requires"].split()
         if not line.startswith(("keras>", "tensorflow>"))]
needs += [line for line in config["options.extras_require"]["test"].splitlines()
          if line.startswith("pytest")]
print(" ".join(needs))
')
# Kept between runs (like pip's cache) while the pins are the same. keras-seeds
# itself is not installed in it: the run imports this checkout (PYTHONPATH).
venv=${KERAS_SEEDS_FLOOR_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/keras-seeds/venv-floor}
if [ "$(cat "$venv/pins" 2>/dev/null)" != "$pins $requirements" ]; then
    rm -rf "$venv"
    python -m venv "$venv"
    # shellcheck disable=SC2086  # one word per requirement
    "$venv/bin/python" -m pip install -q $pins $requirements
    # One Keras below the floor, beside the venv: it must be refused.
    "$venv/bin/python" -m pip install -q --no-deps --target "$venv/below-floor" keras==3.12.0
    echo "$pins $requirements" > "$venv/pins"
fi

echo "== the suite's core on the declared floor: $pins"
# The version pins expect the floor; the main job's answers are compared with
# this interpreter's (the versions the main suite ran on).
PYTHONPATH="$PWD" KERAS_SEEDS_EXPECTED_VERSIONS="$pins" \
    KERAS_SEEDS_BELOW_FLOOR="$venv/below-floor" \
    KERAS_SEEDS_REFERENCE_PYTHON="$(python -c 'import sys; print(sys.executable)')" \
    "$venv/bin/python" -m pytest -n 2 \
    tests/floor_checks.py \
    tests/test_versions.py \
    tests/internal/test_keras_private.py \
    --deselect tests/internal/test_keras_private.py::test_the_private_jax_name_answers_whether_xla_started \
    tests/seeding/test_contract.py \
    tests/seeding/test_global_rngs.py \
    tests/seeding/test_layer_randomness.py \
    tests/data_order/test_keras_fit_order.py \
    tests/replicas/test_model.py \
    tests/replicas/test_sources.py \
    tests/run/test_backup_and_restore.py \
    tests/run/test_keras_callback_tests.py \
    -k "not killed" \
    "$@"
