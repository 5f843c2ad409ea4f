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

``auto`` (the default): a fixed rule of the backend, the member and the
number of replicas (:func:`auto_strategy`), never a timing, so two processes
with the same seeds, hardware and versions fuse alike and train the same bits
whatever else the machine is doing. On JAX a member with a convolution (what
``vmap`` turns into a grouped convolution, 3 to 4 times slower on XLA's CPU
backend, docs/benchmarks.md) is ``unrolled`` for up to ``MAX_UNROLLED``
replicas; every other member, and any K beyond that, is ``vectorized``; one
replica is ``unrolled`` (the member's own step). On TensorFlow ``auto`` is
``vectorized``: its per-replica graph is traced op by op, so unrolling K
replicas costs K times the tracing for no gain on CPUs.

``fastest`` (JAX, opt-in): a short timed probe of both on the fit's own model,
batch and device picks the faster step. The choice then follows the machine's
load: another process may choose the other strategy and so sum its floats in
another order. ``model.fusing`` (and so the manifest) records the choice with
``repeatable: False`` and the timings; pass the recorded strategy to repeat
such a run.

Which state gets the replica axis: every variable of the member (weights,
BatchNormalization statistics, SeedGenerator states), the optimizer's slots,
the metric state. Nothing is split at run time: each replica's random streams
were seeded from its own sub-seeds when it was built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras

STRATEGIES = ("auto", "vectorized", "unrolled", "fastest")


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

    ``rule`` says why in words; ``repeatable`` is ``False`` only when a timed
    probe chose (``fastest``). ``probe`` holds the probe's seconds per step of
    each strategy and ``compile_seconds`` the seconds its first call took more
    (both ``{}`` when nothing was timed)."""

    requested: str = "auto"
    strategy: str | None = None
    rule: str | None = None
    repeatable: bool = True
    probe: dict = field(default_factory=dict)
    compile_seconds: dict = field(default_factory=dict)
    probe_replicas: int | None = None

    @classmethod
    def requesting(cls, strategy: str) -> "FusingChoice":
        """The choice of a ``compile(strategy=...)`` before the member is known:
        an explicit strategy is taken as given."""
        strategy = check_strategy(strategy)
        if strategy == "fastest" and backend() != "jax":
            raise ValueError(
                "`strategy`: 'fastest' times the two strategies with JAX's compiler; on "
                f"the {backend()} backend use 'auto' (the vectorized step) or name the "
                "strategy. Received strategy='fastest'.")
        if strategy in ("vectorized", "unrolled"):
            return cls(strategy, strategy, "requested")
        return cls(strategy)

    def resolve(self, member, replicas: int) -> None:
        """Fixes ``auto`` by :func:`auto_strategy` once the member is known."""
        if self.strategy is None and self.requested == "auto":
            self.strategy, self.rule = auto_strategy(backend(), member, replicas)

    def take_fastest(self, timings: dict[str, tuple[float, float]], replicas: int,
                     probed: int) -> None:
        """Records the probe's ``{strategy: (compile seconds, seconds per step)}``
        on ``probed`` replicas and takes the faster step (``fastest``)."""
        self.compile_seconds = {name: t[0] for name, t in timings.items()}
        self.probe = {name: t[1] for name, t in timings.items()}
        self.probe_replicas = probed
        self.strategy = choose(self.probe, replicas)
        self.repeatable = False
        self.rule = (f"fastest: the timed probe on {probed} replicas measured {self.strategy} "
                     "faster; another process may measure otherwise")

    def to_config(self) -> dict:
        return {"requested": self.requested, "strategy": self.strategy, "rule": self.rule,
                "repeatable": self.repeatable,
                "probe_seconds_per_step": dict(self.probe),
                "probe_compile_seconds": dict(self.compile_seconds),
                "probe_replicas": self.probe_replicas}


PROBE_REPLICAS = 8
# Compiling K unrolled copies of a convolutional member costs minutes beyond a
# few dozen (the digits CNN at K=128 on a 2-core CPU had not compiled and
# trained after 8 minutes; docs/benchmarks.md): neither ``auto`` nor
# ``fastest`` unrolls more than this many.
MAX_UNROLLED = 32


def auto_strategy(backend_name: str, member, replicas: int) -> tuple[str, str]:
    """``(strategy, rule)``: what ``auto`` fuses ``replicas`` replicas of
    ``member`` with on ``backend_name``, and the rule that decided, in words.
    Nothing here is measured: the same model and K give the same strategy in
    every process.

    Example:

    >>> import keras
    >>> cnn = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3),
    ...                         keras.layers.Flatten(), keras.layers.Dense(10)])
    >>> auto_strategy("jax", cnn, 8)[0], auto_strategy("jax", cnn, 64)[0]
    ('unrolled', 'vectorized')
    >>> auto_strategy("tensorflow", cnn, 8)
    ('vectorized', 'auto on TensorFlow: vectorized (unrolling costs K times the tracing)')
    """
    if backend_name != "jax":
        return "vectorized", "auto on TensorFlow: vectorized (unrolling costs K times the tracing)"
    if replicas == 1:
        return "unrolled", "auto with one replica: the member's own step"
    if not has_convolution(member):
        return "vectorized", "auto without convolutions: vectorized (batched matrix products)"
    if replicas > MAX_UNROLLED:
        return "vectorized", (f"auto with a convolution and {replicas} replicas: vectorized "
                              f"(unrolling more than {MAX_UNROLLED} compiles for minutes)")
    return "unrolled", (f"auto with a convolution and {replicas} replicas (at most "
                        f"{MAX_UNROLLED}): unrolled (vmap makes grouped convolutions)")


def choose(step: dict[str, float], replicas: int) -> str:
    """The strategy ``fastest`` takes from the probe's seconds per step: the
    faster one, ``unrolled`` only for at most ``MAX_UNROLLED`` replicas. Compile
    times are recorded, not weighed: they depend on JAX's compilation cache.

    Example:

    >>> choose({"vectorized": 0.03, "unrolled": 0.01}, 8), choose({"vectorized": 0.01, "unrolled": 0.012}, 8)
    ('unrolled', 'vectorized')
    >>> choose({"vectorized": 0.03, "unrolled": 0.01}, 128)
    'vectorized'
    """
    if replicas <= MAX_UNROLLED and step["unrolled"] < step["vectorized"]:
        return "unrolled"
    return "vectorized"


def has_convolution(member) -> bool:
    """Whether ``member`` has a convolution layer: the operation ``vmap`` turns
    into a grouped convolution, which can be slower than K separate ones."""
    from keras_seeds._internal import keras as private

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
