"""Same seed, two processes: bit-identical weights and History, for five model kinds."""

import pytest

from conftest import run_script_json

MODELS = ["mlp", "cnn", "text_rnn", "two_input", "subclassed"]


@pytest.mark.parametrize("mode", ["seeded", "reinit"])
def test_same_seed_two_processes_bit_identical(mode):
    first = run_script_json("train_models.py", 7, mode)
    second = run_script_json("train_models.py", 7, mode)
    assert sorted(first) == sorted(MODELS)
    for name in MODELS:
        assert first[name]["weights"] == second[name]["weights"], name
        assert first[name]["history"] == second[name]["history"], name
        assert first[name]["history"]["seed"] == [7.0, 7.0]
    if mode == "reinit":
        # Built from OS-random state: the starting weights differed, yet the
        # re-drawn, trained weights are identical.
        for name in MODELS:
            assert first[name]["built"] != second[name]["built"], name
    else:
        for name in MODELS:
            assert first[name]["built"] == second[name]["built"], name


def test_different_seeds_give_different_weights():
    a = run_script_json("train_models.py", 7, "seeded")
    b = run_script_json("train_models.py", 8, "seeded")
    for name in MODELS:
        assert a[name]["built"] != b[name]["built"], name
        assert a[name]["weights"] != b[name]["weights"], name
