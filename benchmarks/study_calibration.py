"""Are the study's intervals and compare's verdicts honest? Simulated seeds with a known truth.

    python benchmarks/study_calibration.py [TRIALS]

Prints, for normal scores (mean 0.9, std 0.01):
- how often the 95% intervals of the mean contain the true mean, by number of seeds
  (bootstrap BCa, as in summary()["mean_ci"], and Student's t, summary()["mean_t_ci"]);
- how often compare() declares a winner between two setups with the same true mean
  (false positives, should be <= 5%) and with means 1 std apart (power).
Fixed seeds: the same figures on every run.
"""

import sys
import warnings

import numpy as np

import keras_seeds as ks

trials = int(sys.argv[1]) if len(sys.argv) > 1 else 400
rng = np.random.default_rng(2026)
warnings.simplefilter("ignore", ks.SeedStudyWarning)

print(f"coverage of 95% intervals of the mean ({trials} simulated studies each)")
print("seeds  bootstrap-BCa  t-interval")
for n in (3, 5, 10, 20):
    hits = np.zeros(2)
    for _ in range(trials):
        summary = ks.SeedStudy(rng.normal(0.9, 0.01, n)).summary(n_resamples=1999)
        hits += [summary["mean_ci"][0] <= 0.9 <= summary["mean_ci"][1],
                 summary["mean_t_ci"][0] <= 0.9 <= summary["mean_t_ci"][1]]
    print(f"{n:5d}  {hits[0] / trials:13.3f}  {hits[1] / trials:10.3f}")

print(f"\ncompare(): winners declared in {trials} simulated pairs")
print("seeds  same mean (false positive)  means 1 std apart (right winner)")
for n in (5, 10, 16):
    same = shifted = 0
    for _ in range(trials):
        same += ks.compare(rng.normal(0.9, 0.01, n), rng.normal(0.9, 0.01, n),
                           n_resamples=1999).winner is not None
        shifted += ks.compare(rng.normal(0.91, 0.01, n), rng.normal(0.9, 0.01, n),
                              n_resamples=1999).winner == "A"
    print(f"{n:5d}  {same / trials:26.3f}  {shifted / trials:31.3f}")
