"""How K replicas are fused into one compiled step: the strategies.

``vectorized``: one call of the member over stacked variables with a leading
replica axis (``jax.vmap`` on JAX, ``tf.vectorized_map`` on TensorFlow). Dense
layers become batched matrix products, which is what makes 32 replicas cost
little more than one.

``unrolled``: K calls of the member, one per replica slice, inside the same
compiled step. Where vectorizing turns an operation into a slower kernel
(``vmap`` over convolutions becomes grouped convolutions, which on GPUs can be
slower than K ordinary ones) this is the faster way; it is never slower than K
separate steps, since it is the same work in one dispatch.

``auto`` (JAX): for a member with a convolution (what ``vmap`` turns into a
grouped convolution), a short timed probe of both on the fit's own model,
batch and device picks the clearly faster step (:func:`choose`); other
members are ``vectorized`` (batched matrix products), with no probe. ``model.fusing`` records the choice and the timings. On TensorFlow
``auto`` is ``vectorized``: its per-replica graph is traced op by op, so
unrolling K replicas costs K times the tracing for no gain on CPUs.

Which state gets the replica axis: every variable of the member (weights,
BatchNormalization statistics, SeedGenerator states), the optimizer's slots,
the metric state. Nothing is split at run time: each replica's random streams
were seeded from its own sub-seeds when it was built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras

STRATEGIES = ("auto", "vectorized", "unrolled")


def backend() -> str:
    return keras.backend.backend()


def check_backend() -> str:
    """The Keras backend, if the replica engine runs on it."""
    name = backend()
    if name not in ("tensorflow", "jax"):
        raise RuntimeError(
            f"SeededModel runs on the TensorFlow and JAX backends; this Keras runs backend "
            f"{name!r}. Set KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax before importing "
            "Keras, or train one seed at a time with keras_seeds.SeedCallback.")
    return name


def check_strategy(strategy) -> str:
    if strategy not in STRATEGIES:
        raise ValueError(f"`strategy` must be one of {list(STRATEGIES)}; received "
                         f"strategy={strategy!r}.")
    return strategy


def replica_map(fn, elems, strategy: str = "vectorized"):
    """``fn`` applied to every slice ``k`` of the leaves of ``elems`` along their
    leading (replica) axis, its results stacked along a new leading axis.

    Example:

    >>> import numpy as np
    >>> elems = (np.array([[1.0, 2.0], [3.0, 4.0]], "float32"),)
    >>> for strategy in ("vectorized", "unrolled"):
    ...     out = replica_map(lambda args: {"sum": keras.ops.sum(args[0])}, elems, strategy)
    ...     print(strategy, keras.ops.convert_to_numpy(out["sum"]).tolist())
    vectorized [3.0, 7.0]
    unrolled [3.0, 7.0]
    """
    if strategy == "unrolled":
        replicas = int(keras.tree.flatten(elems)[0].shape[0])
        outputs = [fn(keras.tree.map_structure(lambda a, k=k: a[k], elems))
                   for k in range(replicas)]
        return keras.tree.map_structure(lambda *each: keras.ops.stack(each), *outputs)
    if backend() == "jax":
        import jax

        return jax.vmap(fn)(elems)
    import tensorflow as tf

    return tf.vectorized_map(fn, elems)


@dataclass
class FusingChoice:
    """The strategy a fit runs, and how it was chosen.

    ``probe`` holds the seconds per step of each strategy measured by ``auto``
    and ``compile_seconds`` the seconds its first call took more (both ``{}``
    when the strategy was given or ``auto`` did not probe)."""

    requested: str = "auto"
    strategy: str | None = None
    probe: dict = field(default_factory=dict)
    compile_seconds: dict = field(default_factory=dict)
    probe_replicas: int | None = None

    def to_config(self) -> dict:
        return {"requested": self.requested, "strategy": self.strategy,
                "probe_seconds_per_step": dict(self.probe),
                "probe_compile_seconds": dict(self.compile_seconds),
                "probe_replicas": self.probe_replicas}


# ``auto`` takes ``unrolled`` only when it is clearly faster: a close call
# would let timing noise pick a different strategy (and so different
# floating-point sums) in two runs of the same script.
UNROLLED_MARGIN = 1.5
PROBE_REPLICAS = 8
# Compiling K unrolled copies of a convolutional member costs minutes beyond a
# few dozen (the digits CNN at K=128 on a 2-core CPU had not compiled and
# trained after 8 minutes; docs/benchmarks.md): ``auto`` unrolls at most this many.
MAX_UNROLLED = 32


def choose(step: dict[str, float], replicas: int) -> str:
    """The strategy ``auto`` takes from the probe's seconds per step:
    ``unrolled`` only when it is ``UNROLLED_MARGIN`` times faster and there are
    at most ``MAX_UNROLLED`` replicas. Compile times are recorded, not weighed:
    they depend on JAX's compilation cache, and a choice that follows the cache
    would differ, and so sum differently, between two runs of one script.

    Example:

    >>> choose({"vectorized": 0.03, "unrolled": 0.01}, 8), choose({"vectorized": 0.012, "unrolled": 0.01}, 8)
    ('unrolled', 'vectorized')
    >>> choose({"vectorized": 0.03, "unrolled": 0.01}, 128)
    'vectorized'
    """
    if replicas <= MAX_UNROLLED and step["unrolled"] * UNROLLED_MARGIN < step["vectorized"]:
        return "unrolled"
    return "vectorized"


def has_convolution(member) -> bool:
    """Whether ``member`` has a convolution layer: the operation ``vmap`` turns
    into a grouped convolution, which can be slower than K separate ones."""
    from keras_seeds import _keras_private as private

    return any("Conv" in type(layer).__name__ for layer in private.flatten_layers(member))


def time_calls(fn, args, repeats: int = 3) -> tuple[float, float]:
    """``(seconds the first call took more than the others, fastest of
    repeats later calls)`` of a JAX function: its compile time and step time."""
    import time

    import jax

    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return max(first - best, 0.0), best
