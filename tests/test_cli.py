"""The command line: the demo is repeatable, and diff explains manifests."""

import json

from conftest import run_python


def demo(tmp_path, seed, name):
    result = run_python("-m", "keras_seeds.cli", "demo", "--seed", seed, "--epochs", 2,
                        "--manifest", tmp_path / name)
    return dict(line.split(None, 1) for line in result.stdout.splitlines()
                if line.split(None, 1)[0] in ("seed", "val_accuracy", "manifest")) | {
        "sha": result.stdout.split("weights sha256")[1].split()[0]}


def test_demo_repeats_bit_for_bit_and_diff_explains(tmp_path):
    a = demo(tmp_path, 5, "a.json")
    b = demo(tmp_path, 5, "b.json")
    c = demo(tmp_path, 6, "c.json")
    assert a["seed"] == "5" and a["sha"] == b["sha"] != c["sha"]
    manifest = json.loads((tmp_path / "a.json").read_text())
    assert manifest["result"]["weights_sha256"] == a["sha"]

    same = run_python("-m", "keras_seeds.cli", "diff", tmp_path / "a.json",
                      tmp_path / "b.json", check=False)
    assert same.returncode == 0
    assert "1. The runs match: same inputs and bit-identical final weights." in same.stdout
    differ = run_python("-m", "keras_seeds.cli", "diff", tmp_path / "a.json",
                        tmp_path / "c.json", check=False)
    assert differ.returncode == 1
    assert "1. The seed differs: seed.master is 5 in A and 6 in B" in differ.stdout


def test_cli_rejects_bad_input_clearly(tmp_path):
    bad_seed = run_python("-m", "keras_seeds.cli", "demo", "--seed", "-1", check=False)
    assert bad_seed.returncode == 2
    assert "`--seed` must be an int in [0, 2**32 - 1]; received --seed=-1." in bad_seed.stderr
    (tmp_path / "x.json").write_text("{}")
    not_manifest = run_python("-m", "keras_seeds.cli", "diff", tmp_path / "x.json",
                              tmp_path / "x.json", check=False)
    assert not_manifest.returncode == 2
    assert "is not a keras-seeds manifest" in not_manifest.stderr
