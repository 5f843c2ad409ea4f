"""Seeds per minute of keras-seeds against the hand-written jax.vmap reference.

The yardstick is ``../shared/reference/jax_vmap_reference.py e2e mlp K``: K seed
replicas of the digits MLP fused by hand with ``jax.vmap`` over Keras'
``stateless_call`` and ``optimizer.stateless_apply``, 10 epochs, member
building and compilation included. Against it: ``../shared/reference/
seeds_per_minute.py ks K``, a ``SeededModel`` doing the same study through
``fit`` (whatever ``KERAS_BACKEND`` selects; default here ``jax``).

Each round runs both, in fresh processes, one after the other (alternating which
goes first); printed: every round's seeds per minute and ratio, and the median
ratio (keras-seeds / reference). Ratios of one run hold on a noisy machine where
absolute times do not.

Usage::

    python benchmarks/against_reference.py                  # K=128, 5 rounds, JAX
    python benchmarks/against_reference.py --backend tensorflow --rounds 3
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


def seeds_per_minute(command: list[str], backend: str) -> float:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    out = subprocess.run([sys.executable, *command], capture_output=True, text=True, env=env,
                         check=True).stdout
    return float(re.findall(r"([\d.]+) seeds/min", out)[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backend", default="jax", choices=["jax", "tensorflow"])
    args = parser.parse_args(argv)
    if not REFERENCE.is_dir():
        parser.error(f"the reference scripts are not at {REFERENCE}")
    k = str(args.replicas)
    runs = {"reference": [str(REFERENCE / "jax_vmap_reference.py"), "e2e", "mlp", k],
            "keras-seeds": [str(REFERENCE / "seeds_per_minute.py"), "ks", k]}
    print(f"K={k}, 10 epochs of the digits MLP; keras-seeds on {args.backend}, the reference "
          f"on jax; cpu count {os.cpu_count()}")
    ratios = []
    for round_ in range(args.rounds):
        order = list(runs) if round_ % 2 == 0 else list(runs)[::-1]
        speed = {name: seeds_per_minute(runs[name],
                                        "jax" if name == "reference" else args.backend)
                 for name in order}
        ratios.append(speed["keras-seeds"] / speed["reference"])
        print(f"round {round_ + 1}: reference {speed['reference']:.0f} seeds/min, keras-seeds "
              f"{speed['keras-seeds']:.0f} seeds/min, ratio {ratios[-1]:.2f}", flush=True)
    print(f"median ratio keras-seeds / reference: {statistics.median(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
