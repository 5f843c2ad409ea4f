"""SeedEnsemble: K seed replicas deployed as one Keras model and one SavedModel.

Two forms behind one class:

- **fused** (``SeededModel.ensemble()``): one member architecture and its
  weights stacked with a leading replica axis, run with ``tf.vectorized_map``
  as one batched graph (a K=8 MLP costs about one member's ops, not eight);
- **members** (``SeedEnsemble([model_a, model_b, ...])``): ordinary Keras
  models with the same input and output shapes, each called in turn. They are
  used, not copied, as when Keras models are composed.

Either way the output is the members' outputs combined (``combine``), and the
model exports to a SavedModel that plain TensorFlow serves (``export``).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from keras_seeds._files import write_directory_atomically
from keras_seeds._internal import keras as private
from keras_seeds._validation import check_choice
from keras_seeds.replicas.feed import strings_as_tensors
from keras_seeds.replicas.stacked import StackedVariables

COMBINE_CHOICES = ("mean", "mean_probs", "median")

UNCERTAINTY_ENDPOINT = "serve_uncertainty"


def check_combine(combine) -> str:
    """Validates a ``combine`` choice: one of ``COMBINE_CHOICES``.

    Example:

    >>> check_combine("mean")
    'mean'
    """
    return check_choice(combine, "combine", COMBINE_CHOICES)


def combine_outputs(outputs, combine: str, axis: int = 0):
    """Combines replica outputs stacked along ``axis`` (NumPy arrays or tensors,
    eager or traced: the one definition ``predict`` and ``SeedEnsemble`` share).

    Example:

    >>> np.asarray(combine_outputs(np.array([[1.0, 3.0], [3.0, 5.0]]), "mean"))
    array([2., 4.])
    """
    from keras import ops

    if combine == "median":
        return ops.median(outputs, axis=axis)
    if combine == "mean_probs":
        outputs = ops.softmax(outputs, axis=-1)
    return ops.mean(outputs, axis=axis)


@keras.saving.register_keras_serializable(package="keras_seeds")
class SeedEnsemble(keras.Model):
    """K seed replicas as one model whose output combines theirs.

    Args:
        models: a non-empty list of distinct Keras models with the same input
            and output shapes (built: called once, or made with ``keras.Input``).
            Members whose names clash are renamed ``<name>_<position>``.
        combine: ``"mean"`` of the outputs (probabilities, regression values),
            ``"mean_probs"`` (softmax of each member's logits, then the mean)
            or ``"median"``.
        uncertainty: if true the model returns a dict: ``"prediction"`` (the
            combined output), ``"std"`` (the members' standard deviation, of
            their probabilities for ``"mean_probs"``) and, for outputs with a
            class axis of 2 or more, ``"disagreement"`` (the fraction of
            members whose top class is not the ensemble's); one such dict per
            output for members with several outputs. Either way,
            :meth:`uncertainty` gives that dict and :meth:`export` serves it
            under a second signature.

    Example:

    >>> import keras, numpy as np
    >>> def member():
    ...     return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    >>> members = [member() for _ in range(3)]
    >>> ensemble = SeedEnsemble(members)
    >>> x = np.ones((2, 4), "float32")
    >>> mean = np.mean([m.predict(x, verbose=0) for m in members], axis=0)
    >>> bool(np.allclose(ensemble.predict(x, verbose=0), mean, atol=1e-6))
    True
    >>> sorted(ensemble.uncertainty(x))
    ['disagreement', 'prediction', 'std']
    >>> ensemble.fused  # members called in turn; SeededModel.ensemble() is fused
    False
    >>> outputs = ensemble.member_outputs(x)  # a tensor: usable inside a larger model
    >>> tuple(outputs.shape)  # (members, samples, classes)
    (3, 2, 3)
    """

    def __init__(self, models=None, combine: str = "mean", uncertainty: bool = False,
                 name: str | None = None, *, _fused=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.combine = check_combine(combine)
        self.uncertainty_outputs = bool(uncertainty)
        self.seeds = None
        self._stacked: StackedVariables | None = None
        if _fused is not None:
            architecture, replicas, values = _fused
            self._stacked = StackedVariables.create(self, architecture, replicas, values)
            self.replicas = replicas
            self.members = []
        else:
            self.members = _check_members(models)
            self.replicas = len(self.members)
        self.built = True

    @property
    def fused(self) -> bool:
        """Whether the members run as one batched graph (``SeededModel.ensemble()``)."""
        return self._stacked is not None

    def _architecture(self) -> keras.Model:
        """The model that describes one member's computation: the fused form's
        member architecture, else the first member."""
        return self._stacked.member if self.fused else self.members[0]

    # --------------------------------------------------------------- calling
    def member_outputs(self, inputs, training: bool = False):
        """Every member's output, stacked: a leading axis of size K."""
        if self.fused:
            return self._stacked.outputs(inputs, training=training)
        outputs = [member(inputs, training=training) for member in self.members]
        return keras.tree.map_structure(lambda *each: keras.ops.stack(each), *outputs)

    def call(self, inputs, training=False):
        stacked = self.member_outputs(inputs, training=bool(training))
        if self.uncertainty_outputs:
            return uncertainty_of(stacked, self.combine)
        return keras.tree.map_structure(lambda t: combine_outputs(t, self.combine), stacked)

    def compute_output_spec(self, inputs, training=False):
        spec = self._architecture().compute_output_spec(inputs)
        if not self.uncertainty_outputs:
            return spec

        def one_output(spec):
            result = {"prediction": spec, "std": spec}
            if len(spec.shape) >= 2 and (spec.shape[-1] or 0) >= 2:
                result["disagreement"] = keras.KerasTensor(spec.shape[:-1], "float32")
            return result

        return keras.tree.map_structure(one_output, spec)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """``keras.Model.predict``; string features may also come as NumPy object
        or unicode arrays (as ``SeededModel.fit`` takes them: a keras-io
        wide-and-deep model's categories), not only as string tensors."""
        return super().predict(strings_as_tensors(x), batch_size=batch_size, verbose=verbose,
                               steps=steps, callbacks=callbacks)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.evaluate``; string features as in :meth:`predict`."""
        return super().evaluate(strings_as_tensors(x), y, *args, **kwargs)

    def predict_members(self, x, batch_size: int = 32) -> Any:
        """Every member's prediction as NumPy, shape ``(K, samples, ...)``.

        Example:

        >>> import keras, numpy as np
        >>> members = [keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]) for _ in range(3)]
        >>> SeedEnsemble(members).predict_members(np.ones((5, 4), "float32")).shape
        (3, 5, 2)
        """
        parts = _in_batches(self.member_outputs, x, batch_size)
        return keras.tree.map_structure(
            lambda *p: np.concatenate([np.asarray(t) for t in p], axis=1), *parts)

    def uncertainty(self, x, batch_size: int = 32) -> dict:
        """The combined prediction and the members' spread as NumPy arrays:
        ``{"prediction", "std"[, "disagreement"]}`` (see the class docs); for
        members with several outputs, one such dict per output, in the
        outputs' structure.

        Example (two named outputs):

        >>> import keras, numpy as np
        >>> def member():
        ...     x = keras.Input((4,))
        ...     return keras.Model(x, {"label": keras.layers.Dense(3, activation="softmax")(x),
        ...                            "value": keras.layers.Dense(1)(x)})
        >>> result = SeedEnsemble([member(), member()]).uncertainty(np.ones((5, 4), "float32"))
        >>> sorted(result["label"]), sorted(result["value"]), result["value"]["std"].shape
        (['disagreement', 'prediction', 'std'], ['prediction', 'std'], (5, 1))
        """
        parts = _in_batches(lambda batch: uncertainty_of(self.member_outputs(batch),
                                                         self.combine), x, batch_size)
        return keras.tree.map_structure(
            lambda *p: np.concatenate([np.asarray(t) for t in p]), *parts)

    # ------------------------------------------------------------- exporting
    def input_signature(self) -> list:
        """The serving input signature: the members' inputs with any batch size
        (what :meth:`export` serves unless given another).

        Example:

        >>> import keras
        >>> members = [keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        ...            for _ in range(2)]
        >>> [(spec.shape, spec.dtype) for spec in SeedEnsemble(members).input_signature()]
        [((None, 4), 'float32')]
        """
        return private.get_input_signature(self._architecture())

    def export(self, filepath, verbose: bool = False, input_signature=None,
               jit_compile: bool | str = False) -> None:
        """Writes a TensorFlow SavedModel that serves without keras-seeds.

        Signatures: ``serve`` (also ``serving_default``) returns what the model
        returns; ``serve_uncertainty`` returns ``{"prediction", "std"[,
        "disagreement"]}``, keyed ``<output>/prediction``, ... for members with
        several outputs (a signature's outputs are flat). Load with
        ``tf.saved_model.load(path).serve(x)``, ``keras.layers.TFSMLayer(path)``,
        or TensorFlow Serving.

        Needs TensorFlow installed, on the JAX backend too: there Keras' own
        export converts the served functions with ``jax2tf``, which embeds
        them as XLA programs (``XlaCallModule``), so a server needs XLA
        support for them and ``jit_compile`` does not apply.

        Args:
            filepath: the SavedModel directory to write.
            input_signature: the serving inputs (``tf.TensorSpec`` structure);
                by default the members' inputs with any batch size.
            jit_compile: compile the served functions with XLA (``True``, or
                ``"auto"``: where they compile on this machine). Off by default:
                TensorFlow Serving's GPU build cannot run XLA-compiled SavedModel
                functions (tensorflow/serving #2214), and XLA compiles anew for
                each batch size a server sees. On a CPU it about doubles the
                throughput at batch 256 (docs/benchmarks.md).

        Example:

        >>> import tempfile, numpy as np, tensorflow as tf
        >>> from keras_seeds.demo import digits_mlp
        >>> from keras_seeds import SeededModel
        >>> ensemble = SeededModel(digits_mlp, replicas=2, seed=0).ensemble()
        >>> path = tempfile.mkdtemp() + "/ensemble"
        >>> ensemble.export(path)
        >>> served = tf.saved_model.load(path)
        >>> x = np.zeros((3, 64), "float32")
        >>> bool(np.allclose(served.serve(x), ensemble.predict(x, verbose=0), atol=1e-6))
        True
        """
        from keras.export import ExportArchive

        if jit_compile not in ("auto", True, False):
            raise ValueError("`jit_compile` must be 'auto', True or False; received "
                             f"jit_compile={jit_compile!r}.")
        signature = keras.tree.map_structure(private.make_tf_tensor_spec,
                                             input_signature or self.input_signature())
        endpoints = {
            "serve": lambda *inputs: self(*inputs, training=False),
            UNCERTAINTY_ENDPOINT: lambda *inputs: signature_outputs(
                uncertainty_of(self.member_outputs(*inputs), self.combine)),
        }
        if jit_compile == "auto" and keras.backend.backend() != "jax":
            jit_compile = _compiles_with_xla(endpoints["serve"], signature)
        archive = ExportArchive()
        archive.track(self)
        if self.fused:
            # The architecture's resources (a StringLookup's table) are used by
            # the served graph; Keras' tracking does not reach them through the
            # stacked variables.
            archive.track(self._architecture())
        for name, fn in endpoints.items():  # "serve" first: it becomes serving_default
            archive.add_endpoint(name, *_served_function(fn, signature, jit_compile))
        write_directory_atomically(filepath, lambda path: archive.write_out(path,
                                                                             verbose=verbose))

    # ------------------------------------------------------------- saving
    def load_own_variables(self, store):
        super().load_own_variables(store)
        if self.fused:
            self._stacked.restore_member()

    def get_config(self):
        config = {"name": self.name, "combine": self.combine,
                  "uncertainty": self.uncertainty_outputs, "seeds": self.seeds}
        if self.fused:
            return {**config, "replicas": self.replicas, **self._stacked.member_config()}
        return {**config, "members": [keras.saving.serialize_keras_object(m)
                                      for m in self.members]}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        options = {"combine": config["combine"], "uncertainty": config["uncertainty"],
                   "name": config.get("name")}
        if "member" in config:
            architecture = StackedVariables.member_from_config(config, custom_objects)
            ensemble = cls(_fused=(architecture, config["replicas"], None), **options)
        else:
            ensemble = cls([keras.saving.deserialize_keras_object(
                m, custom_objects=custom_objects) for m in config["members"]], **options)
        ensemble.seeds = config.get("seeds")
        return ensemble

    @classmethod
    def from_store(cls, path, build_fn, config: str | None = None, seeds=None,
                   combine: str = "mean", uncertainty: bool = False,
                   name: str | None = None) -> "SeedEnsemble":
        """The fused ensemble of a sweep's seeds, from the weights the seed
        store kept (``sweep(..., keep_weights=True)``).

        Args:
            path: the seed store (its path, or an open
                :class:`~keras_seeds.sweeps.store.SeedStore`).
            build_fn: the sweep's ``build_fn`` (gives the architecture; its
                weights are replaced by each seed's).
            config: the configuration's name or hash (prefix); may be left
                out when the store holds one.
            seeds: which seeds (default: every finished seed with weights).
            combine, uncertainty, name: as in :class:`SeedEnsemble`.

        Example:

        >>> import os, tempfile
        >>> import keras_seeds as ks
        >>> from keras_seeds.demo import digits_mlp, load_digits_split
        >>> path = os.path.join(tempfile.mkdtemp(), "seeds.db")
        >>> _ = ks.sweep(digits_mlp, lambda: load_digits_split(0), seeds=[4, 5], epochs=1,
        ...              store=path, keep_weights=True, progress=False)
        >>> ks.SeedEnsemble.from_store(path, digits_mlp).seeds
        [4, 5]
        """
        import io

        from keras_seeds.replicas.members import MemberFactory, member_variables
        from keras_seeds.seeding.contract import Seeds
        from keras_seeds.sweeps.read import read_kept_weights

        order, kept = read_kept_weights(path, config, seeds)
        factory = MemberFactory(build_fn)
        architecture = factory.finish(factory.new(Seeds(order[0])), Seeds(order[0]))
        count = len(member_variables(architecture))
        values = []
        for seed in order:
            with np.load(io.BytesIO(kept[seed]), allow_pickle=False) as arrays:
                values.append([arrays[str(i)] for i in range(count)])
        ensemble = cls(combine=combine, uncertainty=uncertainty, name=name,
                       _fused=(architecture, len(order), values))
        ensemble.seeds = order
        return ensemble


def fused_ensemble(stacked: StackedVariables, seeds, combine: str = "mean",
                   uncertainty: bool = False, name: str | None = None) -> SeedEnsemble:
    """A fused :class:`SeedEnsemble` with a snapshot of ``stacked``'s values
    (training the replicas further does not change it)."""
    ensemble = SeedEnsemble(combine=combine, uncertainty=uncertainty, name=name,
                            _fused=(stacked.member, len(seeds), stacked.snapshot()))
    ensemble.seeds = list(seeds)
    return ensemble


def uncertainty_of(stacked, combine: str) -> dict:
    """The combined output and the members' spread, from outputs stacked on axis 0:
    ``{"prediction", "std"[, "disagreement"]}``, or for several outputs (a dict
    or list of stacked tensors) one such dict per output, in their structure.

    Example:

    >>> members = np.array([[[0.9, 0.1]], [[0.2, 0.8]], [[0.7, 0.3]]])  # K=3, one example
    >>> out = uncertainty_of(members, "mean")
    >>> np.asarray(out["prediction"]).round(2), np.asarray(out["disagreement"]).round(2)
    (array([[0.6, 0.4]]), array([0.33], dtype=float32))
    """
    from keras import ops

    if isinstance(stacked, (dict, list, tuple)):
        return keras.tree.map_structure(lambda t: uncertainty_of(t, combine), stacked)
    prediction = combine_outputs(stacked, combine)
    values = ops.softmax(stacked, axis=-1) if combine == "mean_probs" else stacked
    result = {"prediction": prediction, "std": ops.std(values, axis=0)}
    if len(stacked.shape) >= 3 and (stacked.shape[-1] or 0) >= 2:
        votes = ops.argmax(stacked, axis=-1)
        chosen = ops.expand_dims(ops.argmax(prediction, axis=-1), 0)
        result["disagreement"] = ops.mean(ops.cast(ops.not_equal(votes, chosen), "float32"),
                                          axis=0)
    return result


def signature_outputs(result: dict) -> dict:
    """:func:`uncertainty_of`'s result as a serving signature needs it, a flat
    dict of tensors: as it is for one output, else keyed ``<output>/<part>``.

    Example:

    >>> sorted(signature_outputs({"label": {"prediction": 1, "std": 2}, "value": {"std": 3}}))
    ['label/prediction', 'label/std', 'value/std']
    """
    if all(not isinstance(value, (dict, list, tuple)) for value in result.values()):
        return result
    return {"/".join(map(str, path)): tensor
            for path, tensor in keras.tree.flatten_with_path(result)}


def _in_batches(fn, x, batch_size: int) -> list:
    """``fn`` compiled and applied to ``x`` in batches of ``batch_size``."""
    if keras.backend.backend() == "jax":
        import jax

        step = jax.jit(fn)
        count = len(keras.tree.flatten(x)[0])
        return [step(keras.tree.map_structure(lambda a: np.asarray(a)[start:start + batch_size],
                                              x))
                for start in range(0, count, batch_size)]
    import tensorflow as tf

    step = tf.function(fn)
    return [step(batch) for batch in tf.data.Dataset.from_tensor_slices(x).batch(batch_size)]


def _served_function(fn, signature, jit_compile) -> tuple:
    """``(function, input_signature)`` for ``ExportArchive.add_endpoint``: a
    ``tf.function`` on TensorFlow; on JAX the plain function, which Keras
    converts with jax2tf."""
    if keras.backend.backend() == "jax":
        return fn, signature
    import tensorflow as tf

    return tf.function(fn, input_signature=signature, jit_compile=bool(jit_compile)), None


def _compiles_with_xla(fn, signature) -> bool:
    """Whether ``fn`` compiles and runs under XLA here, tried on a batch of one."""
    import tensorflow as tf

    def example(spec):
        shape = [1 if dim is None else dim for dim in spec.shape]
        return tf.zeros(shape, spec.dtype)

    try:
        tf.function(fn, jit_compile=True)(*keras.tree.map_structure(example, signature))
    except Exception:  # noqa: BLE001 - any failure means: serve without XLA
        return False
    return True


# ----------------------------------------------------------------- checks
def _check_members(models) -> list:
    if isinstance(models, keras.Model) or not isinstance(models, (list, tuple)):
        raise TypeError("`models` must be a list of Keras models; received "
                        f"models={models!r}.")
    if not models:
        raise ValueError("`models` must hold at least one Keras model; received models=[].")
    for i, model in enumerate(models):
        if not isinstance(model, keras.Model):
            raise TypeError(f"`models[{i}]` must be a Keras model; received {model!r}.")
    seen: dict[int, int] = {}
    for i, model in enumerate(models):
        if id(model) in seen:
            raise ValueError(
                f"`models[{seen[id(model)]}]` and `models[{i}]` are the same model object; "
                "its weights would count twice. Pass distinct models (for example "
                "`keras.models.clone_model(model)` with the other seed's weights).")
        seen[id(model)] = i
    first = _io_shapes(models[0], 0)
    for i, model in enumerate(models[1:], start=1):
        shapes = _io_shapes(model, i)
        for part, index in (("input", 0), ("output", 1)):
            if shapes[index] != first[index]:
                raise ValueError(
                    f"`models[{i}]` has {part} shape {shapes[index]}, but `models[0]` has "
                    f"{first[index]}; ensemble members need the same input and output shapes.")
    names: set[str] = set()
    for i, model in enumerate(models):
        if model.name in names:
            model.name = f"{model.name}_{i}"
        while model.name in names:
            model.name = f"{model.name}_"
        names.add(model.name)
    return list(models)


def _io_shapes(model, index: int) -> tuple:
    """``(input shapes, output shapes)`` of a built model, batch dimension free."""
    try:
        signature = private.get_input_signature(model)
    except ValueError as error:
        raise ValueError(f"`models[{index}]` is not built, so its input shape is unknown; "
                         "build it (`keras.Input`, `model.build(shape)` or one call on "
                         f"data) first. Keras says: {error}") from None
    spec = keras.tree.map_structure(lambda s: keras.KerasTensor(s.shape, s.dtype), signature)
    outputs = model.compute_output_spec(*spec)
    as_shapes = lambda structure: keras.tree.map_structure(  # noqa: E731
        lambda t: tuple(t.shape[1:]), structure)
    return as_shapes(spec), as_shapes(outputs)
