"""How far fused replicas drift from the solo runs of their seeds on this CPU,
and how far the known bugs land: the figures in docs/replicas.md.

Usage: python tests/scripts/replica_drift.py [--one-step]

Trains the digits MLP and CNN (Adam, batch 32, the 1,437-sample digits
training split) as K=4 fused replicas of seeds 11, 22, 33, 44 and each seed
alone, and prints Markdown tables:
- max |w_replica - w_solo| over all variables after building, 1 step, 10
  steps, 1 epoch and 3 epochs;
- replica_solo_gap on the 360 held-out digits after 3 and 8 epochs, for the
  correct replicas and for three injected bugs (a replica fed another
  replica's batch order; one replica given seed 99's Dropout state, each in
  turn; every replica on the last replica's augmentation state).
With --one-step, instead: the largest difference after one step, in float32
ulps of each variable's scale, by kind of variable, for SGD with momentum and
for Adam (and for SGD with a global_clipnorm taken across all replicas, a bug),
for the digits models and the keras-io-style models of test_replica_models.py.
"""

import contextlib
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras_io_models import (  # noqa: E402
    conv1d_classifier,
    digits_images,
    digits_series,
    loss_vae,
    wide_and_deep,
    wine_features,
)

from keras_seeds.demo import digits_cnn, digits_mlp  # noqa: E402
from keras_seeds.statistics import replica_solo_gap  # noqa: E402

from replica_runs import (  # noqa: E402
    SEEDS,
    batch_orders_rolled,
    cnn_with_shared_augmentation,
    digits,
    fit,
    optimizer_slots,
    outputs,
    solo_outputs,
    with_augmentation_state_of_last_replica,
    with_dropout_state_of,
)

# keras-io-style models: data loader, compile arguments, batch size, epochs, label
KERAS_IO_MODELS = {
    "conv1d": (conv1d_classifier, digits_series, None, 32, 2, "keras-io Conv1D series classifier"),
    "wide_and_deep": (wide_and_deep, wine_features, None, 16, 6,
                      "wide and deep with string features"),
    "vae": (loss_vae, digits_images, {}, 64, 3, "VAE with compute_loss (reconstructions)"),
}
KERAS_IO = {kind: (loader()[0], arguments, batch)
            for kind, (_, loader, arguments, batch, _, _) in KERAS_IO_MODELS.items()}
CHECKPOINTS = {"build": 0, "1 step": 1, "10 steps": 10, "1 epoch": 45, "3 epochs": 135}
BUILDERS = {"MLP": (digits_mlp, "mlp"), "CNN": (digits_cnn, "cnn")}


class Snapshots(keras.callbacks.Callback):
    """Every replica's variables after the given numbers of training steps."""

    def __init__(self, steps):
        super().__init__()
        self.steps, self.done, self.taken = set(steps), 0, {}

    def take(self, model):
        self.taken[self.done] = [model.get_replica_weights(k) for k in range(model.replicas)]

    def on_train_batch_end(self, batch, logs=None):
        self.done += 1
        if self.done in self.steps:
            self.take(self.model)


def snapshots(build_fn, seeds, data):
    watch = Snapshots(CHECKPOINTS.values())
    fit(build_fn, seeds, data, epochs=3, before_fit=watch.take, callbacks=[watch])
    return watch.taken


def max_diff(a, b):
    return max(float(np.max(np.abs(x.astype("float64") - y))) for x, y in zip(a, b))


def weight_drift(build_fn, kind):
    data, _ = digits(kind)
    fused = snapshots(build_fn, SEEDS, data)
    alone = [snapshots(build_fn, [seed], data) for seed in SEEDS]
    return {name: [max_diff(fused[step][k], alone[k][step][0]) for k in range(len(SEEDS))]
            for name, step in CHECKPOINTS.items()}


_solo_cache = {}


def gaps(build_fn, kind, epochs, bug=None, index=1):
    """replica_solo_gap of a fused fit, correct or with ``bug``: "order" (every
    replica fed the previous one's batch order), "dropout" (replica ``index``
    on seed 99's Dropout state) or "augmentation" (every replica on the last
    one's augmentation state)."""
    data, (x_held, _) = digits(kind)
    key = (build_fn, epochs)
    if key not in _solo_cache:
        _solo_cache[key] = solo_outputs(build_fn, SEEDS, data, x_held, epochs=epochs)
    if bug == "order":
        with batch_orders_rolled():
            fused = fit(build_fn, SEEDS, data, epochs=epochs)
    else:
        before_fit = {"dropout": with_dropout_state_of(build_fn, 99, index),
                      "augmentation": with_augmentation_state_of_last_replica}.get(bug)
        fused = fit(build_fn, SEEDS, data, epochs=epochs, before_fit=before_fit)
    return replica_solo_gap(outputs(fused, x_held), _solo_cache[key])


def ulps(got, want):
    """max |got - want| in float32 ulps of ``want``'s largest magnitude."""
    scale = np.float32(np.abs(want).max(initial=0.0))
    return float(np.abs(got.astype("float64") - want).max(initial=0.0) / np.spacing(scale))


def one_step_ulps(build_fn, kind, optimizer, shared_clip_norm=False):
    """{variable kind: worst ulps over replicas and variables} after one step."""
    data, compile_arguments, batch_size = (digits(kind)[0], None, 32) if kind in ("mlp", "cnn") \
        else KERAS_IO[kind]

    def one_step(seeds):
        return fit(build_fn, seeds, data, epochs=1, steps_per_epoch=1, optimizer=optimizer,
                   batch_size=batch_size, compile_arguments=compile_arguments)

    if shared_clip_norm:  # the bug: Keras' own clipping, one norm for all replicas
        from keras_seeds.replicas import step

        saved = step.clip_per_replica, step.keras_clipping_off
        step.clip_per_replica, step.keras_clipping_off = (
            lambda grads, clipping: grads, lambda optimizer: contextlib.nullcontext())
        try:
            fused = one_step(SEEDS)
        finally:
            step.clip_per_replica, step.keras_clipping_off = saved
    else:
        fused = one_step(SEEDS)
    trainable = len(fused.trainable_weights)
    worst = {}
    for k, seed in enumerate(SEEDS):
        alone = one_step([seed])
        mine, theirs = fused.get_replica_weights(k), alone.get_replica_weights(0)
        paths = [v.path for v in fused.architecture.trainable_variables]
        noise = [i for i, path in enumerate(paths)  # biases before BatchNormalization
                 if kind == "conv1d" and path.endswith("/bias") and "conv1d" in path]
        parts = {"weights": (mine[:trainable], theirs[:trainable]),
                 "statistics": (mine[trainable:], theirs[trainable:]),
                 "optimizer slots": (optimizer_slots(fused, k), optimizer_slots(alone, 0))}
        for name, (a, b) in parts.items():
            values = [ulps(x, y) for i, (x, y) in enumerate(zip(a, b))
                      if y.dtype.kind == "f" and not (name != "statistics" and i in noise)]
            if values:
                worst[name] = max([worst.get(name, 0.0)] + values)
            if noise and name == "weights":
                worst["rounding-noise biases"] = max(
                    [worst.get("rounding-noise biases", 0.0)] + [ulps(a[i], b[i]) for i in noise])
    return worst


def print_one_step():
    optimizers = {
        "SGD(0.1, momentum=0.9)": lambda: keras.optimizers.SGD(0.1, momentum=0.9),
        "Adam()": None,
        "SGD(0.5, global_clipnorm=0.05)": lambda: keras.optimizers.SGD(0.5, global_clipnorm=0.05),
    }
    print("| model | optimizer | weights | BatchNorm statistics | optimizer slots |")
    print("|---|---|---|---|---|")
    momentum = optimizers["SGD(0.1, momentum=0.9)"]
    for kind, (build_fn, label) in (("conv1d", (conv1d_classifier, "keras-io Conv1D")),
                                    ("wide_and_deep", (wide_and_deep, "wide and deep")),
                                    ("vae", (loss_vae, "VAE (compute_loss)"))):
        worst = one_step_ulps(build_fn, kind, momentum)
        noise = worst.pop("rounding-noise biases", None)
        print(f"| {label} | SGD(0.1, momentum=0.9) | " + " | ".join(
            f"{worst[p]:.3g}" if p in worst else "-"
            for p in ("weights", "statistics", "optimizer slots")) + " |"
            + (f" biases before BatchNormalization: {noise:.3g}" if noise else ""), flush=True)
    for name, (build_fn, kind) in BUILDERS.items():
        for label, optimizer in optimizers.items():
            cases = [(label, False)] + ([(label + ", bug: one norm across replicas", True)]
                                        if "clipnorm" in label else [])
            for text, bug in cases:
                worst = one_step_ulps(build_fn, kind, optimizer, shared_clip_norm=bug)
                print(f"| {name} | {text} | " + " | ".join(
                    f"{worst[p]:.3g}" if p in worst else "-"
                    for p in ("weights", "statistics", "optimizer slots")) + " |", flush=True)


def row(label, values, fmt):
    return f"| {label} | " + " | ".join(fmt(v) for v in values) + " |"


def main():
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    print(f"CPU: {platform.processor() or platform.machine()}, "
          f"AVX-512: {'yes' if 'avx512f' in flags else 'no'}, "
          f"keras {keras.__version__}\n")
    header = "| after | " + " | ".join(f"seed {s}" for s in SEEDS) + " |"
    rule = "|---" * (len(SEEDS) + 1) + "|"
    for name, (build_fn, kind) in BUILDERS.items():
        print(f"Digits {name}, max |w_replica - w_solo| over all variables:\n")
        print(header + "\n" + rule)
        for label, values in weight_drift(build_fn, kind).items():
            print(row(label, values, lambda v: "0 (bitwise)" if v == 0 else f"{v:.2g}"))
        print()
    print("replica_solo_gap on the held-out digits (criterion: <= 0.1):\n")
    print("| model, replicas | epochs | " + " | ".join(f"seed {s}" for s in SEEDS) + " |")
    print("|---|---" + "|---" * len(SEEDS) + "|")
    cases = [("MLP, correct", digits_mlp, "mlp", None),
             ("CNN, correct", digits_cnn, "cnn", None),
             ("MLP, bug: fed the previous replica's batch order", digits_mlp, "mlp", "order"),
             ("CNN with keras-io's shared augmentation layers, correct",
              cnn_with_shared_augmentation, "cnn", None),
             ("CNN, bug: every replica on the last replica's augmentation state",
              cnn_with_shared_augmentation, "cnn", "augmentation")]
    for label, build_fn, kind, bug in cases:
        for epochs in (3, 8):
            print(f"| {label} | {epochs} | "
                  + " | ".join(f"{v:.3g}" for v in gaps(build_fn, kind, epochs, bug)) + " |",
                  flush=True)
    for build_fn, loader, arguments, batch, epochs, label in KERAS_IO_MODELS.values():
        (train, (x_held, *_)) = loader()
        settings = dict(epochs=epochs, batch_size=batch, compile_arguments=arguments)
        solo = solo_outputs(build_fn, SEEDS, train, x_held, **settings)
        values = replica_solo_gap(outputs(fit(build_fn, SEEDS, train, **settings), x_held), solo)
        print(f"| {label}, correct | {epochs} | " + " | ".join(f"{v:.3g}" for v in values)
              + " |", flush=True)
    for label, build_fn, kind in (("MLP", digits_mlp, "mlp"), ("CNN", digits_cnn, "cnn")):
        for epochs in (3, 8):
            values = [gaps(build_fn, kind, epochs, "dropout", k)[k] for k in range(len(SEEDS))]
            print(f"| {label}, bug: the replica of the column alone on seed 99's Dropout "
                  f"state | {epochs} | " + " | ".join(f"{v:.3g}" for v in values) + " |",
                  flush=True)


if __name__ == "__main__":
    print_one_step() if "--one-step" in sys.argv else main()
