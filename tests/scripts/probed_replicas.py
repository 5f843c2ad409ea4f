"""Probed replica runs (``replica_runs.probed_runs``) of each KIND, pickled to OUT.

Usage: python probed_replicas.py OUT KIND...   (run with the backend under test in
KERAS_BACKEND; the TensorFlow tests compute the same runs in their own process).
The replicas are vectorized: compiling four unrolled copies of the augmented CNN
costs JAX half a minute, and what the probes record is exact either way.
"""

import os
import pickle
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from replica_runs import probed_runs  # noqa: E402

if __name__ == "__main__":
    runs = {kind: probed_runs(kind, strategy="vectorized") for kind in sys.argv[2:]}
    Path(sys.argv[1]).write_bytes(pickle.dumps(runs))
