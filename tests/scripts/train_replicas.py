"""Trains K=4 seed replicas of the digits MLP and CNN; prints a JSON summary.

Usage: python train_replicas.py VARIANT [--solo] [--only-mlp | --only-cnn]
                                [--strategies S,S,...] [--probe-favours STRATEGY]
                                [--poisoned-mlp]
  VARIANT "adam":   Adam, 3 epochs, batch 32, on the digits training split.
  VARIANT "poison": replica 2's initial weights scaled by 1e30, so it diverges.
  --poisoned-mlp: after VARIANT's runs, also the MLP of "poison" (its summary
          under "poisoned mlp"), in this process.
  --solo: also train each seed alone (SeededModel(seeds=[s])) and report how far
          replica i's held-out outputs are from seed i's solo run, as a fraction
          of the distance to the nearest other seed's (replica_solo_gap).
  --strategies: also train the replicas with each of these fusing strategies
          ("auto", "vectorized", "unrolled"), and fit one step with "fastest".
  --probe-favours: what the load of a busy machine does to a timed probe, made
          certain: every timing of the two strategies says STRATEGY's step is
          ten times faster than the other's.
Prints {model: {"sha256": [per replica], "gap": [...], "diverged": [...], "loss": {...},
"fusing": model.fusing, "strategies": {strategy: {"sha256", "fusing"}}}}; runs on the
backend KERAS_BACKEND names.
"""

import hashlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from keras_seeds.demo import digits_cnn, digits_mlp  # noqa: E402
from keras_seeds.replicas.step import ReplicaStep  # noqa: E402
from keras_seeds.statistics import replica_solo_gap  # noqa: E402

from replica_runs import CLASSIFIER, SEEDS, digits, fit, outputs, solo_outputs  # noqa: E402

BUILDERS = {"mlp": digits_mlp, "cnn": digits_cnn}


def poison(index):
    def scale(model):
        model.set_replica_weights(index, [w * 1e30 if w.dtype.kind == "f" else w
                                          for w in model.get_replica_weights(index)])
    return scale


def favour_in_probes(strategy):
    """Every timed probe of the two strategies finds ``strategy`` ten times faster."""
    def probe(self, tv, ntv, mv, data):
        return {name: (1.0, 0.001 if name == strategy else 0.01)
                for name in ("vectorized", "unrolled")}
    ReplicaStep.probe = probe


def hashes(model):
    return [hashlib.sha256(b"".join(w.tobytes() for w in model.get_replica_weights(k)))
            .hexdigest() for k in range(len(SEEDS))]


def main(variant, solo, models, strategies, poisoned_mlp=False):
    summary = {kind: train(kind, variant, solo, strategies) for kind in models}
    if poisoned_mlp:
        summary["poisoned mlp"] = train("mlp", "poison", False, [])
    print(json.dumps(summary))


def train(kind, variant, solo, strategies):
    data, (x_held, _) = digits(kind)
    settings = dict(epochs=3)
    model = fit(BUILDERS[kind], SEEDS, data,
                before_fit=poison(2) if variant == "poison" else None, **settings)
    history = model.history.history
    result = {
        "sha256": hashes(model),
        "diverged": model.diverged_replicas,
        "fusing": model.fusing,
        "loss": {key: [float(v) for v in values] for key, values in history.items()
                 if key.startswith("loss") or key == "diverged"},
        "strategies": {},
    }
    for strategy in strategies:
        trained = fit(BUILDERS[kind], SEEDS, data, compile_arguments={
            **CLASSIFIER, "strategy": strategy}, **settings)
        result["strategies"][strategy] = {"sha256": hashes(trained),
                                          "fusing": trained.fusing}
    if strategies:
        fastest = fit(BUILDERS[kind], SEEDS, data, epochs=1, steps_per_epoch=1,
                      compile_arguments={**CLASSIFIER, "strategy": "fastest"})
        result["strategies"]["fastest"] = {"fusing": fastest.fusing}
    if solo:
        alone = solo_outputs(BUILDERS[kind], SEEDS, data, x_held, **settings)
        result["gap"] = replica_solo_gap(outputs(model, x_held), alone).tolist()
    return result


def option(name):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else None


if __name__ == "__main__":
    if option("--probe-favours"):
        favour_in_probes(option("--probe-favours"))
    main(sys.argv[1], "--solo" in sys.argv,
         [m for m in BUILDERS if f"--only-{m}" in sys.argv] or list(BUILDERS),
         (option("--strategies") or "").split(",") if option("--strategies") else [],
         "--poisoned-mlp" in sys.argv)
