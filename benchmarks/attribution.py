"""Attribution by source, fused against one fit per run.

    python benchmarks/attribution.py [SEEDS_PER_SOURCE] [EPOCHS]

``keras_seeds.attribute`` of the digits MLP (Dense 64, Dropout 0.2; 1,437
training and 360 validation samples, batch 32, Adam) over the sources init,
data and noise with SEEDS_PER_SOURCE (8) runs each plus the all-sources group
(32 runs), EPOCHS (5) epochs, into a new store each time:

- *fused*: ``replicas_per_job="auto"``: the four groups' runs cut into chunks
  together, each chunk one SeededModel fit (here one fit of all 32);
- *one fit per run*: ``replicas_per_job=1``: the same runs, a SeededModel fit
  each.

Printed: the number of fits, the seconds and runs per minute of each, and
the ratio; in the JSON line also each source's share and the level the
intervals keep under heavy tails at these seed counts. Both in this process,
one after the other (the machine is shared: compare the ratio, not the
seconds). Fixed seeds.
"""

import json
import os
import sys
import tempfile
import time

import keras_seeds as ks
from keras_seeds.demo import digits_data, digits_mlp
from keras_seeds.sweeps import run as sweeps


def run(per_source: int, epochs: int, replicas_per_job) -> dict:
    fits, train = [], sweeps.Chunks.train

    def counted(job, chunk, done):
        fits.append(len(chunk))
        return train(job, chunk, done)

    sweeps.Chunks.train = counted
    try:
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            result = ks.attribute(digits_mlp, digits_data, seeds_per_source=per_source,
                                  epochs=epochs, replicas_per_job=replicas_per_job,
                                  store=os.path.join(folder, "attribution.db"), progress=False)
            seconds = time.perf_counter() - start
    finally:
        sweeps.Chunks.train = train
    runs = sum(fits)
    return {"fits": len(fits), "runs": runs, "seconds": seconds,
            "runs_per_minute": 60 * runs / seconds,
            "shares": {group.source: group.share for group in result.sources},
            "heavy_tail_level": result.heavy_tail_level}


def main(per_source: int = 8, epochs: int = 5) -> dict:
    fused = run(per_source, epochs, "auto")
    single = run(per_source, epochs, 1)
    return {"fused": fused, "one_fit_per_run": single,
            "speedup": single["seconds"] / fused["seconds"]}


if __name__ == "__main__":
    result = main(*[int(a) for a in sys.argv[1:3]])
    for name in ("fused", "one_fit_per_run"):
        part = result[name]
        print(f"{name:16} {part['fits']:3d} fits for {part['runs']} runs: "
              f"{part['seconds']:.1f} s, {part['runs_per_minute']:.0f} runs/min")
    print(f"fused over one fit per run: {result['speedup']:.1f}x faster")
    print(json.dumps(result))
