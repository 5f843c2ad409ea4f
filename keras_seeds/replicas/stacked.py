"""Stacked variables: one member architecture's variables with a leading
replica axis, shared by ``SeededModel`` and the fused ``SeedEnsemble``.

Variable ``i`` of the member (trainable ones first, then non-trainable ones:
BatchNormalization statistics, SeedGenerator states) becomes one variable of
shape ``(K, *shape_i)`` owned by the Keras model that holds the replicas, so
Keras tracks, saves and restores them like any weight. Slice ``k`` is replica
``k``'s value. The member model itself only describes the computation: it is
run with ``stateless_call`` on slices, never on its own variables.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from keras_seeds._internal import keras as private
from keras_seeds.replicas.fusing import replica_map
from keras_seeds.replicas.members import member_variables, run_member


@dataclass
class StackedVariables:
    """``member``'s variables stacked as ``(K, ...)`` on an owning model."""

    member: keras.Model
    trainable: list
    non_trainable: list

    @classmethod
    def create(cls, owner: keras.Layer, member: keras.Model, replicas: int,
               values: list | None = None) -> "StackedVariables":
        """Adds the stacked variables to ``owner``; ``values[k]`` is replica k's
        list of values (as :func:`member_variables` orders them), or ``None``
        to leave zeros for a loaded file to fill."""
        trainable, non_trainable = [], []
        count = len(member.trainable_variables)
        for i, variable in enumerate(member_variables(member)):
            is_trainable = i < count
            stacked = owner.add_weight(
                shape=(replicas,) + tuple(variable.shape), dtype=variable.dtype,
                initializer="zeros", trainable=is_trainable,
                name=f"replicas_{'t' if is_trainable else 'n'}{i}_{variable.name}")
            if values is not None:
                stacked.assign(np.stack([replica[i] for replica in values]))
            (trainable if is_trainable else non_trainable).append(stacked)
        return cls(member, trainable, non_trainable)

    @property
    def variables(self) -> list:
        return self.trainable + self.non_trainable

    @property
    def replicas(self) -> int:
        return int(self.variables[0].shape[0]) if self.variables else 0

    def read(self, index: int) -> list[np.ndarray]:
        """Replica ``index``'s values, in :func:`member_variables` order."""
        return [np.array(v.numpy()[index]) for v in self.variables]

    def write(self, index: int, values) -> None:
        """Overwrites replica ``index``'s values (as :meth:`read` gives them)."""
        variables = self.variables
        if len(values) != len(variables):
            raise ValueError(f"`weights` must hold {len(variables)} arrays (trainable, then "
                             f"non-trainable variables); received {len(values)}.")
        for variable, value in zip(variables, values):
            if tuple(np.shape(value)) != tuple(variable.shape[1:]):
                raise ValueError(f"`weights`: variable {variable.name} needs shape "
                                 f"{tuple(variable.shape[1:])}; received {np.shape(value)}.")
        for variable, value in zip(variables, values):
            full = np.array(variable.numpy())
            full[index] = value
            variable.assign(full)

    def restore_member(self) -> None:
        """Gives the member replica 0's values, then lets its layers remake the
        state they derive from their variables, as Keras does after loading a
        layer's variables (``finalize_state``: an adapted ``Normalization``'s
        mean and variance). For a member rebuilt from its config, whose
        layers would otherwise keep the state of fresh variables."""
        for variable, values in zip(member_variables(self.member), self.variables):
            variable.assign(values.numpy()[0])
        for layer in private.flatten_layers(self.member):
            if hasattr(layer, "finalize_state"):
                layer.finalize_state()

    def snapshot(self) -> list[list[np.ndarray]]:
        """Every replica's values, ``[replica][variable]``."""
        full = [np.array(v.numpy()) for v in self.variables]
        return [[values[k] for values in full] for k in range(self.replicas)]

    def tensors(self) -> tuple[list, list]:
        """The current values as tensors: ``(trainable, non_trainable)``."""
        return ([keras.ops.convert_to_tensor(v) for v in self.trainable],
                [keras.ops.convert_to_tensor(v) for v in self.non_trainable])

    def outputs(self, x, training: bool = False, values=None, strategy: str = "vectorized"):
        """The member's output for every replica: a leading replica axis.
        ``values``: ``(trainable, non_trainable)`` values to run instead of the
        variables' (a JAX step's state)."""

        def one_replica(args):
            tv, ntv = args
            return run_member(self.member, tv, ntv, x, training)[0]

        return replica_map(one_replica, self.tensors() if values is None else values, strategy)

    # ------------------------------------------------------------- saving
    def member_config(self) -> dict:
        """The member's architecture as a Keras config (no compile state): what a
        saved file needs to rebuild the stacked variables."""
        config = keras.saving.serialize_keras_object(self.member)
        config.pop("compile_config", None)
        return {"member": config, "member_build_config": self.member.get_build_config()}

    @staticmethod
    def member_from_config(config: dict, custom_objects=None) -> keras.Model:
        """The member rebuilt from :meth:`member_config`."""
        member = keras.saving.deserialize_keras_object(config["member"],
                                                       custom_objects=custom_objects)
        if not member.built and config.get("member_build_config"):
            member.build_from_config(config["member_build_config"])
        return member
