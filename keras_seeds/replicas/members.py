"""Where each replica's model comes from: built under its own seeds.

Replica k's member is ``build_fn()`` called under its ``init`` sub-seed (or the
template cloned and re-initialised from it), built, and its SeedGenerators
re-seeded from its ``noise`` and ``augment`` sub-seeds. Its variables' values
are read right after, before the next replica is built: so a layer that
``build_fn`` shares between the members (keras-io's ViT keeps its augmentation
Sequential at module level) still gives each replica the state its seed gives
it, and what stays shared (weights not drawn per seed) is said in a warning.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np

from keras_seeds.seeding.contract import Seeds
from keras_seeds.seeding.global_rngs import seeded_construction
from keras_seeds.seeding.layer_randomness import reinitialize_weights, reseed_generators


def member_variables(member) -> list:
    """A member's variables in stacking order: trainable, then non-trainable."""
    return list(member.trainable_variables) + list(member.non_trainable_variables)


def run_member(member, trainable, non_trainable, x, training: bool):
    """``member(x, training=training)`` on the given variable values, without
    touching its variables: ``(outputs, new non-trainable values, add_loss terms)``.

    Like ``Layer.stateless_call``, but through ``__call__``, as Keras' own
    TensorFlow ``train_step`` calls a model: so ``training`` reaches nested
    layers (Dropout, augmentation) of a model whose ``call`` does not take it.
    """
    mapping = (list(zip(member.trainable_variables, trainable))
               + list(zip(member.non_trainable_variables, non_trainable)))
    with keras.StatelessScope(state_mapping=mapping, collect_losses=True) as scope:
        outputs = member(x, training=training)
        losses = member.losses
    return outputs, [scope.get_current_value(v) for v in member.non_trainable_variables], losses


@dataclass
class BuiltMembers:
    """The replicas' members: the first one stands for the architecture, and
    ``values[k]`` holds replica k's variable values as they were built."""

    architecture: keras.Model
    values: list[list[np.ndarray]]


class MemberFactory:
    """Makes replica members from ``build_fn`` (called per replica) or from a
    template model (cloned per replica, re-initialised from the ``init`` seed)."""

    def __init__(self, build_fn: "Callable[[], keras.Model] | keras.Model"):
        if isinstance(build_fn, keras.Model):
            self.build_fn, self.template = None, build_fn
        elif callable(build_fn):
            self.build_fn, self.template = build_fn, None
        else:
            raise TypeError("`build_fn` must be a function that returns a Keras model, or a "
                            f"Keras model to use as a template; received build_fn={build_fn!r}.")

    def new(self, seeds: Seeds) -> keras.Model:
        """A fresh member built (as far as ``build_fn`` builds it) under ``seeds.init``."""
        with seeded_construction(seeds.init):
            if self.build_fn is None:
                return keras.models.clone_model(self.template)
            member = self.build_fn()
        if not isinstance(member, keras.Model):
            raise TypeError("`build_fn` must return a Keras model; it returned "
                            f"{member!r} of type {type(member).__name__}.")
        return member

    def finish(self, member: keras.Model, seeds: Seeds, sample_x=None) -> keras.Model:
        """Builds ``member`` (from ``sample_x`` if Keras has not), re-draws a
        template clone's weights, and re-seeds its SeedGenerators."""
        if not member.built:
            if sample_x is None:
                raise ValueError("SeededModel: the model from `build_fn` is not built (no "
                                 "`keras.Input`), so it needs data: call `fit`, `predict` or "
                                 "`build(input_shape)` first.")
            with seeded_construction(seeds.init):
                member(sample_x)
        if self.build_fn is None:
            reinitialize_weights(member, seeds.init)
        reseed_generators(member, seeds.noise, seeds.augment)
        return member

    def build(self, replica_seeds: "list[int | Seeds]", first: keras.Model | None = None,
              sample_x=None) -> BuiltMembers:
        """Every replica's member; ``first`` is replica 0's if already made.

        Only replica 0's member is ever run, so the others are built with
        deferred variables (no backend variable made, about a third of the
        cost of a small model): their values are their initializers' draws,
        the same ones a built variable would hold. A model that cannot be
        built that way (a layer that makes a variable from a constant) is
        built as usual."""
        members, values = [], []
        deferred = True
        for index, seed in enumerate(replica_seeds):
            seeds = Seeds.coerce(seed)
            if index == 0:
                member = self.finish(first if first is not None else self.new(seeds),
                                     seeds, sample_x)
                member_values = _values(member)
            else:
                member, member_values = (self._deferred(seeds, sample_x) if deferred
                                         else (None, None))
                if member is None:
                    deferred = False
                    member = self.finish(self.new(seeds), seeds, sample_x)
                    member_values = _values(member)
            members.append(member)
            values.append(member_values)
        _check_same_architecture(members)
        _warn_shared_weights(members)
        inits = {Seeds.coerce(seed).init for seed in replica_seeds}
        if len(inits) > 1 and all(_equal(values[0], v, trainable_count(members[0]))
                                  for v in values[1:]):
            warnings.warn(
                "SeededModel: every replica starts from the same weights (the model fixes "
                "its initializer seeds or loads weights), so replicas differ only in data "
                "order and noise.", stacklevel=4)
        return BuiltMembers(members[0], values)


    def _deferred(self, seeds: Seeds, sample_x):
        """``(member, values)`` built with deferred variables, or ``(None, None)``
        when the model makes a variable that cannot be deferred."""
        from keras_seeds._internal import keras as private

        try:
            with private.deferred_variables():
                member = self.finish(self.new(seeds), seeds, sample_x)
                return member, _values(member)
        except Exception:  # built as usual, which raises again if the model is at fault
            return None, None


def _values(member) -> list[np.ndarray]:
    """The values of ``member``'s variables, as :func:`member_variables` orders them."""
    return [np.array(v.numpy()) for v in member_variables(member)]


def trainable_count(member) -> int:
    return len(member.trainable_variables)


def _equal(a: list, b: list, count: int) -> bool:
    return all(np.array_equal(u, v) for u, v in zip(a[:count], b[:count]))


def _signature(member) -> list:
    return [(tuple(v.shape), str(v.dtype)) for v in member_variables(member)]


def _check_same_architecture(members) -> None:
    reference = _signature(members[0])
    for index, member in enumerate(members[1:], start=1):
        if _signature(member) != reference:
            raise ValueError(
                "`build_fn` returned models of different shapes: replica 0 has variables "
                f"{reference} but replica {index} has {_signature(member)}. Every replica "
                "must be the same architecture.")


def _warn_shared_weights(members) -> None:
    """Warns when members share trainable weights: built once, outside
    ``build_fn``, they are the same in every replica instead of drawn per seed."""
    if len(members) < 2:
        return
    first = {id(v): v for v in members[0].trainable_variables}
    shared = [v.path for v in members[1].trainable_variables if id(v) in first]
    if shared:
        warnings.warn(
            f"SeededModel: `build_fn` returns layers it did not create, shared by every "
            f"replica; their weights ({', '.join(shared[:4])}"
            f"{', ...' if len(shared) > 4 else ''}) start the same in every replica instead "
            "of being drawn from each replica's init seed. Create those layers inside "
            "`build_fn` to draw them per seed.", stacklevel=5)
