"""Many seeds of one model: ``ks.sweep`` plans the seeds into fused chunks and
trains them (``run``) where an engine says (``engines``: this process or Dask),
into one SQLite store (``store``) with a progress bar (``progress``); a study's
output folder (``report``) and the variance attribution sweep (``attribute``).
"""

from keras_seeds._moved import moved_attribute

# ``keras_seeds.sweeps`` was the module of ``sweep()`` up to 0.1.0.
__getattr__ = moved_attribute(__name__, "keras_seeds.sweeps.run")
