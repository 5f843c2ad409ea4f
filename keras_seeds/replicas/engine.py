"""The replica engine: what a :class:`~keras_seeds.SeededModel` holds besides
Keras' own state, and the decisions made on it. ``SeededModel`` is the face
Keras sees (compile, fit, evaluate, predict, config, replica access); the
engine owns the parts: the members' factory, the stacked variables, the
per-replica metric state, the step, the data feed, how replicas are fused,
gradient clipping and which replicas are frozen. Keras does not track the
engine: the stacked variables are added to the model with ``add_weight``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import keras

from keras_seeds.replicas.clipping import Clipping
from keras_seeds.replicas.feed import HostReplicaFeed, ReplicaFeed
from keras_seeds.replicas.fusing import PROBE_REPLICAS, FusingChoice, backend
from keras_seeds.replicas.members import MemberFactory, member_variables
from keras_seeds.replicas.metrics import ReplicaMetrics
from keras_seeds.replicas.sources import SHARED_ORDER, IndexedFeed, SharedFeed
from keras_seeds.replicas.stacked import StackedVariables
from keras_seeds.replicas.step import ReplicaStep

logger = logging.getLogger("keras_seeds")

# Optimizers whose update of one variable looks at the whole variable (trust
# ratios, orthogonalisation, a shared loss scale): on a stacked variable they
# would mix the replicas.
COUPLING_OPTIMIZERS = ("LossScaleOptimizer", "Lamb", "Muon")


def seed_record(sub_seeds: list, shuffle: bool, feed=None) -> dict:
    """What a run record says of the replicas' seeds and data order
    (:meth:`keras_seeds.SeededModel.seed_record`); ``feed``: the last fit's."""
    data_seeds = [seeds.data for seeds in sub_seeds]
    order = ("controlled: every replica its own order, replica k's pass e is "
             f"pass_order(n, [data seed k, e]) with data seeds {data_seeds}"
             if shuffle else "controlled: no shuffling (the given order, every replica)")
    if isinstance(feed, SharedFeed):
        order = SHARED_ORDER
    elif isinstance(feed, IndexedFeed) and shuffle:
        order = ("controlled: every replica its own order of the PyDataset's batches, "
                 "replica k's pass e visits batch indices pass_order(n, [data seed k, e]) "
                 f"(a shorter last batch last) with data seeds {data_seeds}")
    return {"replica_seeds": [seeds.master for seeds in sub_seeds],
            "sub_seeds": [seeds.to_config() for seeds in sub_seeds],
            "control": {
                "initialization": "controlled: replica k built under its init sub-seed",
                "noise": "controlled: replica k's SeedGenerators seeded from its noise "
                         "and augment sub-seeds",
                "data_order": order}}


@dataclass
class ReplicaEngine:
    """The parts of K fused replicas, and the decisions taken on them."""

    factory: MemberFactory | None          # None for a model loaded from a file
    pending: keras.Model | None = None     # replica 0's member, while unbuilt
    stacked: StackedVariables | None = None
    metrics: ReplicaMetrics | None = None
    step: ReplicaStep | None = None
    feed: ReplicaFeed | HostReplicaFeed | None = None
    fusing: FusingChoice = field(default_factory=FusingChoice)
    compile_arguments: dict | None = None
    clipping: Clipping = field(default_factory=Clipping)
    frozen: frozenset = frozenset()

    # -------------------------------------------------------- compiling
    def check_optimizer(self, optimizer, auto_scale_loss: bool, policy) -> Clipping:
        """Refuses what would couple the replicas or clip the wrong gradient;
        returns the optimizer's per-replica clipping. ``policy``: the
        SeededModel's dtype policy (with its member's, the one Keras' compile
        reads to decide on loss scaling)."""
        name = type(optimizer).__name__
        if any(cls.__name__ in COUPLING_OPTIMIZERS for cls in type(optimizer).__mro__):
            raise ValueError(
                f"`optimizer`: {name} looks across all values of a variable, so on the "
                "stacked replica variables it would couple the replicas; use an element-wise "
                f"optimizer (Adam, AdamW, SGD, RMSprop, ...). Received optimizer={name}.")
        member = self.stacked.member if self.stacked is not None else self.pending
        policies = {policy.name} | ({member.dtype_policy.name} if member else set())
        if auto_scale_loss and "mixed_float16" in policies:
            raise ValueError(
                "`auto_scale_loss`: the dtype policy is mixed_float16, under which Keras "
                "scales the loss with one LossScaleOptimizer per model. SeededModel cannot "
                "scale each replica's loss apart (a replica whose gradients overflow would "
                "skip every replica's step), so its replicas would not train like their "
                "solo runs. Compile with auto_scale_loss=False to train without loss "
                "scaling (and compare with solo runs compiled the same way), or use the "
                "mixed_bfloat16 policy, which needs no loss scaling.")
        clipping = Clipping.of(optimizer)
        if clipping and (getattr(optimizer, "gradient_accumulation_steps", None) or 1) > 1:
            raise ValueError(
                f"`optimizer`: {name} both clips gradients and accumulates them over "
                f"{optimizer.gradient_accumulation_steps} steps; per-replica clipping clips "
                "each step's gradient, not the accumulated one. Use one of the two.")
        return clipping

    def attach_step(self, replicas: int, compile_arguments: dict | None) -> None:
        """Compiles the architecture with the model's (fresh) loss and metrics
        and makes the per-replica metric state and step for it."""
        architecture = self.stacked.member
        if compile_arguments is not None:
            architecture.compile(optimizer=None, **compile_arguments)
        self.metrics = ReplicaMetrics(architecture, replicas)
        self.fusing.resolve(architecture, replicas)
        # "fastest" is "vectorized" until the first fit has timed both.
        self.step = ReplicaStep(self.stacked, self.metrics, self.fusing.strategy or "vectorized")

    # ---------------------------------------------------------- fitting
    def feed_for(self, data: tuple, seeds: list, batch_size: int, shuffle: bool,
                 initial_epoch: int, rows=None) -> tuple[ReplicaFeed, bool]:
        """The training feed for a fit, and whether it is new: the last one,
        refilled, when the data is of the same kind (so the traced step is
        reused), else a new one (whose step must be traced again)."""
        feed = self.feed
        if isinstance(feed, (ReplicaFeed, HostReplicaFeed)) and feed.accepts(
                data, seeds, batch_size, shuffle, rows):
            feed.load(data, initial_epoch, rows)
            return feed, False
        kind = HostReplicaFeed if backend() == "jax" else ReplicaFeed
        feed = self.feed = kind(data, seeds, batch_size, shuffle, rows)
        feed.pass_index.assign(int(initial_epoch))
        return feed, True

    def source_feed(self, kind: str, x, seeds: list, shuffle: bool, steps_per_epoch,
                    replicas: int) -> tuple:
        """The feed of a fit on a PyDataset (``kind="indexed"``) or a stream; new
        each fit (its step is traced again)."""
        if kind == "indexed":
            if steps_per_epoch is not None:
                raise ValueError(
                    "`steps_per_epoch`: with x a PyDataset, an epoch is one pass over its "
                    "batches, each replica in its own order; pass steps_per_epoch=None, or "
                    "data_order='shared' to stream it; received "
                    f"steps_per_epoch={steps_per_epoch!r}.")
            self.feed = IndexedFeed(x, seeds, shuffle)
        else:
            self.feed = SharedFeed(replicas, x, steps_per_epoch)
        return self.feed, True

    def choose_strategy(self, feed, replicas: int) -> bool:
        """Resolves ``strategy="fastest"`` (JAX) at the first fit: a timed probe
        of both strategies on up to ``PROBE_REPLICAS`` replicas and the fit's
        batch (``auto`` was resolved by its rule when the replicas were built).
        True when it chose now (the model's compiled functions are stale)."""
        fusing = self.fusing
        if fusing.strategy is not None:
            return False
        if replicas == 1:
            fusing.strategy = "unrolled"
            fusing.rule = "fastest with one replica: the member's own step"
        else:
            count = min(replicas, PROBE_REPLICAS)
            tv, ntv = ([keras.ops.convert_to_tensor(v)[:count] for v in variables]
                       for variables in (self.stacked.trainable, self.stacked.non_trainable))
            mv = [keras.ops.convert_to_tensor(v)[:count] for v in self.metrics.variables]
            fusing.take_fastest(self.step.probe(tv, ntv, mv, feed.first_batch(count)),
                                replicas, count)
            logger.info("SeededModel: strategy='fastest' took %r (%s); the manifest records it.",
                        fusing.strategy, fusing.probe)
        self.step.strategy = fusing.strategy
        return True

    def jax_train_function(self, train_step, run_eagerly: bool, steps_per_execution: int):
        """On JAX: Keras' compiled step, fed each step with the replicas' batch
        from the data feed (for arrays, Keras' own iterator only counts the steps)."""
        import jax

        step = train_step if run_eagerly else jax.jit(train_step, donate_argnums=0)
        feed_of = self  # the feed of the fit that runs, read at each step

        def train_function(state, iterator):
            logs, state = step(state, feed_of.feed.next_from(iterator))
            for _ in range(steps_per_execution - 1):
                try:
                    batch = feed_of.feed.next_from(iterator)
                except StopIteration:
                    break
                logs, state = step(state, batch)
            return logs, state

        return train_function

    # -------------------------------------------------- replica access
    def standalone_replica(self, sub_seeds, weights: list, optimizer,
                           compile_arguments: dict | None) -> keras.Model:
        """A new Keras model of one replica: built under its seeds by the
        factory (or cloned from the architecture), holding ``weights``, and
        compiled with a copy of ``optimizer`` when the replicas are."""
        architecture = self.stacked.member
        if self.factory is not None and self.factory.build_fn is not None:
            model = self.factory.new(sub_seeds)
        else:
            model = keras.models.clone_model(architecture)
        if not model.built:
            model.build_from_config(architecture.get_build_config())
        for variable, value in zip(member_variables(model), weights):
            variable.assign(value)
        if compile_arguments is not None:
            copy = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
            model.compile(optimizer=copy, **compile_arguments)
        return model

    # --------------------------------------------------------- resuming
    def state_variables(self) -> dict:
        """The engine's own variables a checkpoint saves, by name: each
        replica's metric state, and the feed's batch order and pass counter."""
        variables = {}
        if self.metrics is not None and self.metrics.built:
            variables.update({f"metric_{i}": v for i, v in enumerate(self.metrics.variables)})
        if isinstance(self.feed, ReplicaFeed):
            variables.update(feed_order=self.feed.order, feed_pass=self.feed.pass_index)
        return variables

    def restore_variables(self, values: dict) -> None:
        """Puts back :meth:`state_variables`' values; an unknown name is a ``ValueError``."""
        variables = self.state_variables()
        unknown = sorted(set(values) - set(variables))
        if unknown:
            raise ValueError(f"`values`: this SeededModel holds no engine state named "
                             f"{unknown}; it holds {sorted(variables)}.")
        for name, value in values.items():
            variables[name].assign(value)
