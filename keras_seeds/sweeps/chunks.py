"""Training one fused chunk of a sweep's seeds, and turning it into store
rows: its scores, curves, per-example results, kept predictions and weights.
The same code runs in this process and in a Dask worker (``engines``)."""

from __future__ import annotations

import io
import math
import time

import numpy as np

from keras_seeds.records.manifest import environment_section
from keras_seeds.replicas.model import SeededModel
from keras_seeds.replicas.per_example import per_example
from keras_seeds.seeding.contract import Seeds
from keras_seeds.statistics.metric_names import replica_curves
from keras_seeds.sweeps.plan import fresh_compile, numeric_values, splits_of, whole_data
from keras_seeds.sweeps.store import PerExample, SeedRun, array_bytes


def _release_memory() -> None:
    """Frees what a finished chunk leaves behind, so that memory stays flat over
    thousands of seeds: TensorFlow's eager kernel cache (docs/benchmarks.md has
    the measurement; a garbage collection on top changed nothing)."""
    from keras_seeds._internal import keras as private

    private.release_eager_kernels()


class Chunks:
    """Trains one fused chunk of seeds and turns it into store rows."""

    def __init__(self, build_fn, compile_kwargs, fit_kwargs, epochs, splits, metric,
                 higher_is_better, ensemble, discard, keep_weights, pinned=None):
        self.build_fn, self.compile_kwargs, self.fit_kwargs = build_fn, compile_kwargs, fit_kwargs
        self.pinned = dict(pinned or {})  # seed -> its pinned sub-seeds, for those with any
        self.epochs, self.splits, self.metric = epochs, splits, metric
        self.higher_is_better, self.ensemble, self.discard = higher_is_better, ensemble, discard
        self.keep_weights = keep_weights
        self.environment = environment_section()

    @classmethod
    def create(cls, *, build_fn, data, compile_kwargs, fit_kwargs, epochs, metric,
               higher_is_better, ensemble, discard, keep_weights, pinned=None) -> "Chunks":
        """The job where it runs (a Dask worker loads ``data`` if it is a function)."""
        return cls(build_fn, compile_kwargs, fit_kwargs, epochs, splits_of(data), metric,
                   higher_is_better, ensemble, discard, keep_weights, pinned)

    def release(self) -> None:
        _release_memory()

    def _compile_arguments(self) -> dict:
        """The compile arguments, with a whole epoch per call of the training
        function unless the user set ``steps_per_execution``: a chunk's fit
        then pays Keras' per-step overhead once an epoch (the digits MLP at
        K=128: 12% faster), for the same bits (the steps are the same ops;
        a test checks it)."""
        import keras

        arguments = fresh_compile(self.compile_kwargs)
        if "steps_per_execution" not in arguments:
            batch_size = int(self.fit_kwargs.get("batch_size") or 32)
            samples = len(keras.tree.flatten(self.splits[0][0])[0])
            arguments["steps_per_execution"] = max(1, -(-samples // batch_size))
        return arguments

    def _fit(self, model, initial_epoch: int, epochs: int) -> dict:
        (x, y), validation = self.splits[:2]
        history = model.fit(x, y, validation_data=validation, initial_epoch=initial_epoch,
                            epochs=epochs, verbose=0, **self.fit_kwargs)
        return replica_curves(history.history)

    def _discarded(self, curves: dict) -> list[int]:
        """The replicas whose validation score after the discard epoch is in the
        worst fraction of the chunk."""
        after, fraction = self.discard
        name = f"val_{self.metric}"
        scores = curves[name][after - 1]
        count = int(math.floor(fraction * len(scores)))
        signed = np.where(np.isfinite(scores), scores if self.higher_is_better else -scores,
                          -np.inf)
        return sorted(np.argsort(signed, kind="stable")[:count].tolist())

    def train(self, chunk: list[int], done: set) -> list[SeedRun]:
        (x, y), (x_val, y_val) = self.splits[:2]
        batch_size = self.fit_kwargs.get("batch_size")
        start = time.perf_counter()
        model = SeededModel(self.build_fn, seeds=[Seeds(seed, **self.pinned.get(seed, {}))
                                                  for seed in chunk])
        model.compile(**self._compile_arguments())
        discarded: list[int] = []
        if self.discard is None:
            curves = self._fit(model, 0, self.epochs)
        else:
            first = self._fit(model, 0, self.discard[0])
            discarded = self._discarded(first)
            for k in discarded:
                model.freeze_replica(k)
            rest = self._fit(model, self.discard[0], self.epochs)
            curves = {name: np.concatenate([first[name], rest[name]])
                      for name in first if name in rest}
        scores = model.evaluate_replicas(x_val, y_val, batch_size=batch_size)
        outputs = model.predict_replicas(x_val, batch_size=batch_size, verbose=0)
        examples = {"validation": per_example(model, y_val, outputs, self.metric,
                                              scores[self.metric])}
        test_outputs = None
        if len(self.splits) == 3:
            tested = model.evaluate_replicas(*self.splits[2], batch_size=batch_size)
            scores.update({f"test_{name}": values for name, values in tested.items()})
            test_outputs = model.predict_replicas(self.splits[2][0], batch_size=batch_size,
                                                  verbose=0)
            examples["test"] = per_example(model, self.splits[2][1], test_outputs,
                                           self.metric, tested[self.metric])
        examples = {split: found for split, found in examples.items() if found is not None}
        seconds = (time.perf_counter() - start) / len(chunk)
        runs = []
        for k, seed in enumerate(chunk):
            if seed in done:
                continue
            # A fused replica equals its solo run up to float reassociation; the
            # same chunk, on the same machine and versions, gives the same bits.
            manifest = {"chunk": list(chunk), "replica": k, "fusing": model.fusing,
                        "environment": self.environment}
            final = {name: float(values[k]) for name, values in numeric_values(scores, 1).items()}
            history = {name: [float(v) for v in values[:, k]]
                       for name, values in numeric_values(curves, 2).items()}
            if k in discarded:
                after = self.discard[0]
                runs.append(SeedRun(
                    seed, "discarded", score=float(curves[f"val_{self.metric}"][after - 1, k]),
                    sub_seeds=model.replica_sub_seeds(k).to_config(),
                    metrics={"discarded_after_epoch": after},
                    history={name: values[:after] for name, values in history.items()},
                    seconds=seconds, manifest=manifest))
                continue
            score = final[self.metric]
            finite = np.isfinite(final.get("loss", score)) and np.isfinite(score)
            runs.append(SeedRun(
                seed, "done" if finite else "diverged", score=score if finite else None,
                sub_seeds=model.replica_sub_seeds(k).to_config(), metrics=final,
                history=history, seconds=seconds, manifest=manifest,
                outputs=(array_bytes(outputs[k]) if finite and self.ensemble
                         and isinstance(outputs, np.ndarray) else None),
                test_outputs=(array_bytes(test_outputs[k]) if finite and self.ensemble
                              and isinstance(test_outputs, np.ndarray) else None),
                examples=({split: PerExample(kind, values[k])
                           for split, (kind, values) in examples.items()} if finite else {}),
                weights=(arrays_bytes(model.get_replica_weights(k))
                         if finite and self.keep_weights else None)))
        return runs


class SplitChunks(Chunks):
    """:class:`Chunks` for data the library splits: each replica trains on its
    own training rows (``SeededModel.fit(replica_rows=...)``) and is scored on
    its own validation rows, both from its ``split`` sub-seed
    (:func:`keras_seeds.data_order.split.split_rows`). The score is the mean of
    per-example values, so it must be an accuracy or the loss. Per-example
    results are kept only for runs whose split is pinned: runs with different
    validation rows have no common examples to analyse."""

    @classmethod
    def create(cls, *, build_fn, data, compile_kwargs, fit_kwargs, epochs, metric,
               higher_is_better, ensemble, discard, keep_weights, pinned=None,
               validation_split=None) -> "SplitChunks":
        job = cls(build_fn, compile_kwargs, fit_kwargs, epochs, (whole_data(data),), metric,
                  higher_is_better, ensemble, discard, keep_weights, pinned)
        job.validation_split = validation_split
        return job

    @staticmethod
    def check_metric(model, metric: str) -> None:
        from keras_seeds.replicas.per_example import correctness_function

        if metric != "loss" and correctness_function(model, metric) is None:
            raise ValueError(
                f"`metric`: with `validation_split` each run is scored on its own validation "
                f"rows, from per-example values, so the score must be one of Keras' "
                f"accuracies or 'loss'; received metric={metric!r}.")

    def _compile_arguments(self) -> dict:
        import keras

        arguments = fresh_compile(self.compile_kwargs)
        if "steps_per_execution" not in arguments:
            samples = len(keras.tree.flatten(self.splits[0][0])[0])
            training = int(math.floor(samples * (1.0 - self.validation_split)))
            batch_size = int(self.fit_kwargs.get("batch_size") or 32)
            arguments["steps_per_execution"] = max(1, -(-training // batch_size))
        return arguments

    def train(self, chunk: list[int], done: set) -> list[SeedRun]:
        from keras_seeds.data_order.split import split_rows
        from keras_seeds.replicas.per_example import correctness, losses

        x, y = self.splits[0]
        samples = len(y)
        batch_size = self.fit_kwargs.get("batch_size")
        start = time.perf_counter()
        model = SeededModel(self.build_fn, seeds=[Seeds(seed, **self.pinned.get(seed, {}))
                                                  for seed in chunk])
        model.compile(**self._compile_arguments())
        rows = [split_rows(samples, self.validation_split, model.replica_sub_seeds(k).split)
                for k in range(len(chunk))]
        history = model.fit(x, y, epochs=self.epochs, verbose=0,
                            replica_rows=np.stack([train for train, _ in rows]),
                            **self.fit_kwargs)
        curves = replica_curves(history.history)
        outputs = model.predict_replicas(x, batch_size=batch_size, verbose=0)
        loss = losses(model, y, outputs)
        correct = None if self.metric == "loss" else correctness(model, y, outputs, self.metric)
        seconds = (time.perf_counter() - start) / len(chunk)
        runs = []
        for k, seed in enumerate(chunk):
            if seed in done:
                continue
            validation = rows[k][1]
            final = {"loss": float(np.mean(loss[k, validation], dtype=np.float64))}
            if correct is not None:
                final[self.metric] = float(np.mean(correct[k, validation]))
            score = final[self.metric]
            finite = bool(np.isfinite(final["loss"]) and np.isfinite(score))
            examples = {}
            if finite and "split" in self.pinned.get(seed, {}):
                examples["validation"] = (PerExample("correct", correct[k, validation])
                                          if correct is not None else
                                          PerExample("loss", loss[k, validation]))
            runs.append(SeedRun(
                seed, "done" if finite else "diverged", score=score if finite else None,
                sub_seeds=model.replica_sub_seeds(k).to_config(), metrics=final,
                history={name: [float(v) for v in values[:, k]]
                         for name, values in numeric_values(curves, 2).items()},
                seconds=seconds, examples=examples,
                manifest={"chunk": list(chunk), "replica": k, "fusing": model.fusing,
                          "environment": self.environment,
                          "validation_rows": len(validation)}))
        return runs


def arrays_bytes(arrays: list) -> bytes:
    """Variables as an ``.npz``, named by position (``SeedEnsemble.from_store``)."""
    buffer = io.BytesIO()
    np.savez(buffer, **{str(i): np.asarray(a) for i, a in enumerate(arrays)})
    return buffer.getvalue()


