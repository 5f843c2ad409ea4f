"""SeededModel: results, Keras integration, saving and bad input."""

import csv
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import softmax
from sklearn.datasets import load_digits

import keras_seeds as ks
from keras_seeds._internal import keras as private
from keras_seeds.demo import digits_cnn, digits_mlp
from keras_seeds.seeding.contract import derive_seed

from replica_runs import assert_within_ulps

X, Y = load_digits(return_X_y=True)
X = (X / 16.0).astype("float32")[:400]
Y = Y.astype("int32")[:400]
X_VAL, Y_VAL = X[300:], Y[300:]
X_TRAIN, Y_TRAIN = X[:300], Y[:300]


def compiled(model, optimizer="adam", **kwargs):
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], **kwargs)
    return model


@pytest.fixture(scope="module")
def trained():
    model = compiled(ks.SeededModel(digits_mlp, replicas=3, seed=7))
    history = model.fit(X_TRAIN, Y_TRAIN, epochs=2, batch_size=32, verbose=0,
                        validation_data=(X_VAL, Y_VAL))
    return model, history


# ------------------------------------------------------------------ seeds
def test_replica_seeds_are_prefix_stable_and_derived_from_the_master_seed():
    four = ks.SeededModel(digits_mlp, replicas=4, seed=42)
    eight = ks.SeededModel(digits_mlp, replicas=8, seed=42)
    assert eight.replica_seeds[:4] == four.replica_seeds
    assert four.replica_seeds == [derive_seed(42, 6, i) for i in range(4)]
    assert (four.replicas, eight.replicas, four.seed) == (4, 8, 42)


def test_explicit_seeds_are_taken_as_given():
    model = ks.SeededModel(digits_mlp, seeds=[5, 3, 9])
    assert model.replica_seeds == [5, 3, 9] and model.replicas == 3 and model.seed is None


def test_pinned_sub_seeds_make_replicas_share_what_they_pin(tmp_path):
    base = ks.Seeds(3)
    every = {name: base[name] for name in ks.SUBSEED_NAMES}
    # Masters 10 and 11 with every sub-seed pinned to seed 3's are both the
    # run of seed 3; pinning all but `data` leaves them two data orders.
    # Unrolled, each replica is a plain call of the member: the same run gives
    # the same bits (vectorized kernels add in another order per slice).
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pinned init: no "same weights" warning
        same = ks.SeededModel(digits_mlp, seeds=[ks.Seeds(10, **every), ks.Seeds(11, **every)])
        orders = ks.SeededModel(digits_mlp, seeds=[
            ks.Seeds(10, **{**every, "data": ks.Seeds(10).data}),
            ks.Seeds(11, **{**every, "data": ks.Seeds(11).data})])
    for model in (same, orders):
        compiled(model, strategy="unrolled").fit(X_TRAIN, Y_TRAIN, epochs=2, batch_size=32,
                                                 verbose=0)
    same_out, order_out = (m.predict_replicas(X_VAL, verbose=0) for m in (same, orders))
    assert np.array_equal(same_out[0], same_out[1])
    assert not np.allclose(order_out[0], order_out[1], atol=1e-3)
    assert same.replica_seeds == [10, 11] and same.replica_sub_seeds(1).as_dict() == every
    # The pins are part of the model: a .keras file keeps them.
    orders.save(tmp_path / "pinned.keras")
    loaded = keras.saving.load_model(tmp_path / "pinned.keras")
    assert [loaded.replica_sub_seeds(k) for k in range(2)] == [
        orders.replica_sub_seeds(k) for k in range(2)]
    assert loaded.replica_sub_seeds(0).pinned["init"] == base.init


def test_replica_rows_train_each_replica_on_its_own_rows_as_a_solo_run_on_them():
    rng = np.random.default_rng(0)
    rows = np.stack([rng.permutation(300)[:200] for _ in range(2)])
    fused = compiled(ks.SeededModel(digits_mlp, seeds=[5, 6]), strategy="unrolled")
    fused.fit(X_TRAIN, Y_TRAIN, epochs=2, batch_size=32, verbose=0, replica_rows=rows)
    for k, seed in enumerate([5, 6]):
        alone = compiled(ks.SeededModel(digits_mlp, seeds=[seed]), strategy="unrolled")
        alone.fit(X_TRAIN[rows[k]], Y_TRAIN[rows[k]], epochs=2, batch_size=32, verbose=0)
        assert all(np.array_equal(a, b) for a, b in zip(fused.get_replica_weights(k),
                                                        alone.get_replica_weights(0)))
    with pytest.raises(ValueError, match=r"`replica_rows` must index the 300 training samples "
                                         r"\(0 to 299\); received values from 0 to 300"):
        fused.fit(X_TRAIN, Y_TRAIN, replica_rows=np.array([[0, 300], [1, 2]]))
    with pytest.raises(ValueError, match=r"`replica_rows` must be an int array of shape "
                                         r"\(replicas=2, rows per replica\)"):
        fused.fit(X_TRAIN, Y_TRAIN, replica_rows=np.arange(10))


def test_seed_none_draws_and_records_a_master_seed(capsys):
    model = ks.SeededModel(digits_mlp, replicas=2)
    assert f"drew master seed {model.seed}" in capsys.readouterr().out
    assert model.replica_seeds == ks.replica_seeds(model.seed, 2)


def test_each_replica_starts_from_its_own_init_seed():
    model = ks.SeededModel(digits_mlp, seeds=[1, 2])
    kernels = [model.get_replica_weights(k)[0] for k in range(2)]
    assert not np.array_equal(kernels[0], kernels[1])
    alone = ks.SeededModel(digits_mlp, seeds=[2])
    assert np.array_equal(alone.get_replica_weights(0)[0], kernels[1])
    # Each slice drawn with its own fan-in: Glorot uniform limit sqrt(6 / (64 + 64)).
    assert np.abs(kernels[0]).max() <= np.sqrt(6 / 128)
    assert np.abs(kernels[0]).max() > 0.9 * np.sqrt(6 / 128)


class _ConstantOffset(keras.layers.Layer):
    """Makes a variable from a constant, which Keras refuses to defer."""

    def build(self, input_shape):
        self.offset = keras.Variable(np.linspace(0, 1, input_shape[-1], dtype="float32"),
                                     trainable=False)

    def call(self, x):
        return x + self.offset


def _offset_mlp():
    return keras.Sequential([keras.Input((64,)), _ConstantOffset(), keras.layers.Dense(8),
                             keras.layers.Dropout(0.2), keras.layers.Dense(10)])


@pytest.mark.parametrize("build_fn", [digits_cnn, _offset_mlp])
def test_every_replica_holds_the_weights_building_its_seed_alone_gives(build_fn):
    # Replicas after the first are built with deferred variables (values drawn from
    # the initializers, no backend variable made), or as usual when a layer makes a
    # variable from a constant; either way each equals the solo build of its seed.
    seeds = [4, 5, 6]
    model = ks.SeededModel(build_fn, seeds=seeds)
    for k, seed in enumerate(seeds):
        alone = ks.SeededModel(build_fn, seeds=[seed])
        for got, want in zip(model.get_replica_weights(k), alone.get_replica_weights(0)):
            np.testing.assert_array_equal(got, want)
    assert not np.array_equal(model.get_replica_weights(1)[0], model.get_replica_weights(2)[0])
    assert private.uninitialized_variables() == []  # nothing left for Keras to create later


def test_building_replicas_leaves_the_callers_random_streams_alone():
    import random

    random.seed(3)
    np.random.seed(3)
    expected = (random.random(), np.random.rand())
    random.seed(3)
    np.random.seed(3)
    ks.SeededModel(digits_mlp, replicas=2, seed=1)
    assert (random.random(), np.random.rand()) == expected


def test_template_model_is_cloned_and_reinitialised_per_replica():
    template = digits_mlp()
    before = [w.copy() for w in template.get_weights()]
    model = ks.SeededModel(template, replicas=2, seed=0)
    first, second = (model.get_replica_weights(k)[0] for k in range(2))
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, before[0])
    assert all(np.array_equal(a, b) for a, b in zip(before, template.get_weights()))


def test_an_unbuilt_model_is_built_from_the_data():
    def unbuilt():
        return keras.Sequential([keras.layers.Dense(4, activation="relu"), keras.layers.Dense(10)])

    model = compiled(ks.SeededModel(unbuilt, seeds=[1, 2]))
    model.fit(X_TRAIN, Y_TRAIN, epochs=1, verbose=0)
    assert model.get_replica_weights(0)[0].shape == (64, 4)


# ---------------------------------------------------------------- results
def test_history_has_means_under_keras_names_and_every_replica(trained):
    model, history = trained
    logs = history.history
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        per_replica = model.replica_history(history, name)
        assert per_replica.shape == (2, 3)
        np.testing.assert_allclose(logs[name], per_replica.mean(axis=1), rtol=1e-6)
    assert logs["diverged"] == [0.0, 0.0]
    assert len({logs[f"val_loss_replica_{k}"][-1] for k in range(3)}) == 3


def test_evaluate_replicas_equals_each_standalone_replica(trained):
    model, _ = trained
    scores = model.evaluate_replicas(X_VAL, Y_VAL)
    assert sorted(scores) == ["accuracy", "loss"]
    for k in range(3):
        loss, accuracy = model.replica(k).evaluate(X_VAL, Y_VAL, verbose=0)
        assert scores["loss"][k] == pytest.approx(loss, rel=1e-5)
        assert scores["accuracy"][k] == pytest.approx(accuracy, rel=1e-6)
    assert model.evaluate(X_VAL, Y_VAL, verbose=0) == pytest.approx(
        [np.mean(scores["loss"]), np.mean(scores["accuracy"])], rel=1e-6)


class _SortedResults(keras.Sequential):
    """The digits MLP whose ``get_metrics_result()`` sorts its keys, as Keras
    3.13's does (``['accuracy', 'loss']``)."""

    def get_metrics_result(self):
        return dict(sorted(super().get_metrics_result().items()))


def _sorted_results_mlp():
    return _SortedResults(digits_mlp().layers, name="sorted_results")


def test_results_keep_keras_order_whatever_the_order_of_the_members_results_dict():
    model = compiled(ks.SeededModel(_sorted_results_mlp, replicas=2, seed=3))
    model.fit(X_TRAIN, Y_TRAIN, epochs=1, batch_size=32, verbose=0)
    scores = model.evaluate_replicas(X_VAL, Y_VAL)
    assert list(scores) == list(model.replica_metric_results()) == ["loss", "accuracy"]
    loss, accuracy = model.evaluate(X_VAL, Y_VAL, verbose=0)   # as with plain Keras
    assert (loss, accuracy) == pytest.approx((np.mean(scores["loss"]),
                                              np.mean(scores["accuracy"])), rel=1e-6)
    assert model.study(X_VAL, Y_VAL).metric == "accuracy"   # the default score


def test_a_two_output_model_evaluates_to_the_list_keras_gives():
    def two_outputs():
        inputs = keras.Input((64,))
        hidden = keras.layers.Dense(16, activation="relu")(inputs)
        return keras.Model(inputs, {"digit": keras.layers.Dense(10, activation="softmax",
                                                                name="digit")(hidden),
                                    "size": keras.layers.Dense(1, name="size")(hidden)})

    model = ks.SeededModel(two_outputs, replicas=1, seed=3)
    model.compile(optimizer="adam", loss={"digit": "sparse_categorical_crossentropy",
                                          "size": "mse"},
                  metrics={"digit": ["accuracy"], "size": ["mae"]})
    y = {"digit": Y_VAL, "size": Y_VAL.astype("float32") / 10}
    ours = model.evaluate(X_VAL, y, verbose=0)
    plain = model.replica(0)   # the one replica as a plain Keras model, same weights
    assert ours == pytest.approx(plain.evaluate(X_VAL, y, verbose=0), rel=1e-5)
    assert list(model.replica_metric_results())[0] == "loss"


def test_a_metric_with_a_value_per_class_is_logged_as_keras_logs_it(tmp_path):
    # keras.metrics.F1Score() defaults to average=None: one F1 per class.
    def compile_with_f1(model):
        model.compile(optimizer="adam", loss="categorical_crossentropy",
                      metrics=["accuracy", keras.metrics.F1Score()])
        return model

    y_train, y_val = (keras.utils.to_categorical(y, 10) for y in (Y_TRAIN, Y_VAL))
    model = compile_with_f1(ks.SeededModel(digits_mlp, replicas=2, seed=5))
    history = model.fit(X_TRAIN, y_train, epochs=1, batch_size=32, verbose=0,
                        validation_data=(X_VAL, y_val))
    plain = compile_with_f1(digits_mlp())
    plain_history = plain.fit(X_TRAIN, y_train, epochs=1, batch_size=32, verbose=0,
                              validation_data=(X_VAL, y_val))
    assert set(plain_history.history) <= set(history.history)
    for name, values in plain_history.history.items():
        assert np.shape(history.history[name]) == np.shape(values), name   # (1, 10) for F1
    scores = model.evaluate_replicas(X_VAL, y_val)
    loss, accuracy, f1 = model.evaluate(X_VAL, y_val, verbose=0)
    np.testing.assert_allclose(f1, np.mean(scores["f1_score"], axis=0), rtol=1e-6)
    for k in range(2):   # each replica's F1 is the plain model's of its weights
        np.testing.assert_allclose(scores["f1_score"][k],
                                   model.replica(k).evaluate(X_VAL, y_val, verbose=0)[2],
                                   rtol=1e-5, atol=1e-7)
    assert model.study(X_VAL, y_val).metric == "accuracy"
    with pytest.raises(ValueError, match=r"^`metric`: 'f1_score' has 10 values per seed "
                                         r"\(shape \(10,\)\); a study needs one score per "
                                         r"seed\. Name a scalar metric, or compile this one "
                                         r"averaged \(for example "
                                         r"keras\.metrics\.F1Score\(average='macro'\)\)\.$"):
        model.study(X_VAL, y_val, metric="f1_score")
    # A sweep trains it too, and keeps the numbers (the store holds no vectors).
    swept = ks.sweep(digits_mlp, ((X_TRAIN, y_train), (X_VAL, y_val)), seeds=[5, 6], epochs=1,
                     compile_kwargs={"optimizer": "adam", "loss": "categorical_crossentropy",
                                     "metrics": ["accuracy", keras.metrics.F1Score()]},
                     fit_kwargs={"batch_size": 32}, store=tmp_path / "f1.db", progress=False)
    assert swept.metric == "accuracy" and len(swept.scores) == 2
    assert sorted(ks.SeedStudy.from_store(tmp_path / "f1.db").curves) == [
        "accuracy", "loss", "val_accuracy", "val_loss"]


def test_predict_is_the_combination_of_predict_replicas(trained):
    model, _ = trained
    per_replica = model.predict_replicas(X_VAL, verbose=0)
    assert per_replica.shape == (3, 100, 10)
    for k in range(3):
        np.testing.assert_allclose(per_replica[k], model.replica(k).predict(X_VAL, verbose=0),
                                   atol=1e-6)
    np.testing.assert_allclose(model.predict(X_VAL, verbose=0), per_replica.mean(axis=0),
                               atol=1e-6)
    np.testing.assert_allclose(model.predict(X_VAL, verbose=0, combine="median"),
                               np.median(per_replica, axis=0), atol=1e-6)
    np.testing.assert_allclose(model.predict(X_VAL, verbose=0, combine="mean_probs"),
                               softmax(per_replica, axis=-1).mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(model(X_VAL[:5]), per_replica[:, :5].mean(axis=0), atol=1e-6)


def test_replica_is_an_independent_model(trained):
    model, _ = trained
    before = model.get_replica_weights(1)
    alone = model.replica(1)
    alone.fit(X_TRAIN, Y_TRAIN, epochs=1, verbose=0)
    assert not np.array_equal(alone.get_weights()[0], before[0])
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_replica_weights(1)))


def test_class_weight_equals_the_matching_sample_weight():
    weights = {c: 1.0 + c / 10 for c in range(10)}

    def run(**kwargs):
        model = compiled(ks.SeededModel(digits_mlp, seeds=[3, 4]), optimizer="sgd")
        model.fit(X_TRAIN, Y_TRAIN, epochs=1, verbose=0, **kwargs)
        return model.get_weights()

    by_class = run(class_weight=weights)
    by_sample = run(sample_weight=np.array([weights[c] for c in Y_TRAIN]))
    plain = run()
    assert all(np.array_equal(a, b) for a, b in zip(by_class, by_sample))
    assert not np.array_equal(by_class[0], plain[0])


def test_a_tf_data_dataset_trains_like_the_same_arrays():
    def run(data, **kwargs):
        model = compiled(ks.SeededModel(digits_mlp, seeds=[3, 4]), optimizer="sgd")
        model.fit(data, epochs=2, verbose=0, **kwargs)
        return model.get_weights()

    dataset = tf.data.Dataset.from_tensor_slices((X_TRAIN, Y_TRAIN)).batch(50)
    from_dataset = run(dataset)
    model = compiled(ks.SeededModel(digits_mlp, seeds=[3, 4]), optimizer="sgd")
    model.fit(X_TRAIN, Y_TRAIN, batch_size=50, epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(from_dataset, model.get_weights()))


def test_each_replica_gets_its_own_data_order_every_epoch():
    # That each replica trains on exactly these orders, batch by batch, is
    # checked bitwise with a probe in test_replica_equality.py.
    from keras_seeds.data_order.order import pass_order

    seeds = ks.SeededModel(digits_mlp, seeds=[3, 4])
    orders = {(k, e): pass_order(300, [seeds.replica_sub_seeds(k).data, e]).numpy()
              for k in range(2) for e in range(2)}
    assert len({o.tobytes() for o in orders.values()}) == 4


def test_fit_feeds_each_replica_its_pass_order_batch_by_batch():
    # The in-step feed against an independent slicing of pass_order.
    from keras_seeds.data_order.order import pass_order
    from keras_seeds.replicas.feed import ReplicaFeed

    x = np.arange(10, dtype="float32").reshape(10, 1) * np.ones((1, 3), "float32")
    y = np.arange(10, dtype="int32")
    feed = ReplicaFeed((x, y), [5, 6], batch_size=4, shuffle=True)
    feed.pass_index.assign(3)
    batch = tf.function(feed.batch)
    for e in (3, 4):  # two passes back to back, as with steps_per_epoch
        for b in range(3):
            got_x, got_y = batch(tf.constant(b, tf.int64))
            for k, seed in enumerate((5, 6)):
                want = pass_order(10, [seed, e]).numpy()[4 * b:4 * b + 4]
                np.testing.assert_array_equal(got_y.numpy()[k], want)
                np.testing.assert_array_equal(got_x.numpy()[k], x[want])
    assert int(feed.pass_index.numpy()) == 5
    unshuffled = ReplicaFeed((x, y), [5, 6], batch_size=4, shuffle=False)
    np.testing.assert_array_equal(tf.function(unshuffled.batch)(tf.constant(0, tf.int64))[1],
                                  [[0, 1, 2, 3]] * 2)


def test_steps_per_epoch_and_initial_epoch_keep_the_pass_orders():
    def weights_after(*fits):
        model = compiled(ks.SeededModel(digits_mlp, seeds=[3, 4]))
        for kwargs in fits:
            model.fit(X_TRAIN, Y_TRAIN, batch_size=100, verbose=0, **kwargs)
        return model.get_weights()

    two_epochs = weights_after({"epochs": 2})
    for fits in ([{"epochs": 1, "steps_per_epoch": 6}],   # two passes back to back
                 [{"epochs": 3, "steps_per_epoch": 2}],   # epochs that split passes
                 [{"epochs": 1}, {"epochs": 2, "initial_epoch": 1}]):  # resumed
        for a, b in zip(two_epochs, weights_after(*fits)):
            np.testing.assert_array_equal(a, b, err_msg=str(fits))


def test_a_second_fit_trains_on_its_own_data_and_reuses_the_traced_step():
    x2, y2 = X_VAL[:90], Y_VAL[:90]

    def sgd_model():
        return compiled(ks.SeededModel(digits_mlp, seeds=[3, 4]), optimizer="sgd")

    model = sgd_model()
    model.fit(X_TRAIN, Y_TRAIN, epochs=1, batch_size=32, verbose=0)
    after_first = model.get_weights()
    step = model.train_function
    model.fit(x2, y2, epochs=1, batch_size=32, verbose=0)
    assert model.train_function is step  # same kind of data: no new trace
    # The same second fit from a model that never saw the first data.
    fresh = sgd_model()
    fresh.set_weights(after_first)
    fresh.fit(x2, y2, epochs=1, batch_size=32, verbose=0)
    for a, b in zip(model.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
    # Data of another kind (float64) gets a new feed and a new trace, and still trains.
    model.fit(x2.astype("float64"), y2, epochs=1, batch_size=32, verbose=0)
    assert model.train_function is not step


def test_clipnorm_and_global_clipnorm_use_each_replicas_own_norm():
    # With SGD the step is the clipped gradient itself: a norm taken over all
    # replicas would shrink every replica's step, far beyond a few ulps.
    for clip in ({"global_clipnorm": 0.05}, {"clipnorm": 0.02}):
        def one_step(seeds, **options):
            model = compiled(ks.SeededModel(digits_mlp, seeds=seeds),
                             optimizer=keras.optimizers.SGD(learning_rate=0.5, **options))
            model.fit(X_TRAIN, Y_TRAIN, epochs=1, steps_per_epoch=1, verbose=0)
            return model

        trio, alone = one_step([1, 2, 3], **clip), one_step([2], **clip)
        assert_within_ulps(trio.get_replica_weights(1), alone.get_replica_weights(0),
                           what=str(clip))
        unclipped = one_step([2]).get_replica_weights(0)
        assert not np.allclose(unclipped[0], alone.get_replica_weights(0)[0])  # it did clip


# -------------------------------------------------------------- callbacks
def test_keras_callbacks_work_on_the_mean(tmp_path):
    model = compiled(ks.SeededModel(digits_mlp, replicas=2, seed=1))
    log_file = tmp_path / "log.csv"
    checkpoint = tmp_path / "best.keras"
    history = model.fit(
        X_TRAIN, Y_TRAIN, epochs=30, verbose=0, validation_data=(X_VAL, Y_VAL),
        callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=0,
                                                 min_delta=0.5),
                   keras.callbacks.CSVLogger(str(log_file)),
                   keras.callbacks.ModelCheckpoint(str(checkpoint), monitor="val_loss"),
                   keras.callbacks.TensorBoard(str(tmp_path / "tb"))])
    epochs = len(history.history["loss"])
    assert epochs < 30
    with open(log_file) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == epochs and "val_accuracy_replica_1" in rows[0]
    assert float(rows[-1]["loss"]) == pytest.approx(history.history["loss"][-1], rel=1e-6)
    restored = keras.saving.load_model(checkpoint)
    np.testing.assert_allclose(restored.predict(X_VAL, verbose=0),
                               model.predict(X_VAL, verbose=0), atol=1e-6)
    events = list((tmp_path / "tb").rglob("events.out.tfevents.*"))
    assert events
    tags = set()
    for event in tf.compat.v1.train.summary_iterator(str(next(
            e for e in events if "train" in str(e)))):
        tags |= {value.tag for value in event.summary.value}
    assert {"epoch_loss", "epoch_loss_replica_0"} <= tags


def test_stock_callbacks_monitoring_val_accuracy_act_on_the_mean_in_its_direction(tmp_path):
    # mode="auto" takes the direction from the compiled metric: accuracy goes up.
    def fit(*callbacks, epochs=8):
        model = compiled(ks.SeededModel(digits_mlp, replicas=2, seed=3),
                         optimizer=keras.optimizers.Adam(0.003))
        history = model.fit(X_TRAIN, Y_TRAIN, epochs=epochs, verbose=0,
                            validation_data=(X_VAL, Y_VAL), callbacks=list(callbacks))
        return model, history.history

    def not_improved(curve):  # epochs whose mean is no better than the best before
        return [e for e in range(1, len(curve)) if curve[e] <= max(curve[:e])]

    stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", min_delta=0.02, patience=0)
    _, history = fit(stop, epochs=30)
    curve = history["val_accuracy"]
    first_flat = next(e for e in range(1, 30) if curve[e] <= max(curve[:e]) + 0.02)
    assert len(curve) == first_flat + 1 < 30

    best = tmp_path / "best.keras"
    checkpoint = keras.callbacks.ModelCheckpoint(str(best), monitor="val_accuracy",
                                                 save_best_only=True)
    _, history = fit(checkpoint)
    restored = keras.saving.load_model(best)
    assert restored.evaluate(X_VAL, Y_VAL, verbose=0, return_dict=True)["accuracy"] == \
        pytest.approx(max(history["val_accuracy"]), abs=1e-6)

    plateau = keras.callbacks.ReduceLROnPlateau(monitor="val_accuracy", factor=0.5,
                                                patience=0, min_delta=0.0, min_lr=0.0)
    model, history = fit(plateau, epochs=20)
    reductions = len(not_improved(history["val_accuracy"]))
    assert 0 < reductions < 19
    assert float(model.optimizer.learning_rate) == pytest.approx(0.003 * 0.5 ** reductions)

    schedule = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.01 * 0.5 ** epoch)
    model, history = fit(schedule, epochs=3)
    assert history["learning_rate"] == pytest.approx([0.01, 0.005, 0.0025])


class ActivityPenalty(keras.layers.Layer):
    """A layer that adds a loss with ``add_loss``."""

    def call(self, h):
        self.add_loss(1e-2 * keras.ops.mean(keras.ops.square(h)))
        return h


def two_heads():
    """Named input, two named outputs, an L2 regularizer and an add_loss term."""
    pixels = keras.Input((64,), name="pixels")
    h = keras.layers.Dense(32, activation="relu", kernel_regularizer="l2")(pixels)
    h = ActivityPenalty()(h)
    return keras.Model({"pixels": pixels},
                       {"digit": keras.layers.Dense(10, activation="softmax", name="digit")(h),
                        "odd": keras.layers.Dense(1, activation="sigmoid", name="odd")(h)})


def test_dict_inputs_and_outputs_sample_weight_and_add_loss_train_per_replica():
    def data(x, y):
        return {"x": {"pixels": x}, "y": {"digit": y, "odd": (y % 2).astype("float32")},
                "sample_weight": np.where(y % 2 == 1, 2.0, 1.0).astype("float32")}

    model = ks.SeededModel(two_heads, seeds=[1, 2])
    model.compile(optimizer="adam", metrics={"digit": ["accuracy"]},
                  loss={"digit": "sparse_categorical_crossentropy", "odd": "binary_crossentropy"})
    validation = data(X_VAL, Y_VAL)
    history = model.fit(**data(X_TRAIN, Y_TRAIN), epochs=2, verbose=0,
                        validation_data=tuple(validation.values()))
    assert {"digit_loss_replica_1", "odd_loss", "val_digit_accuracy_replica_0",
            "val_loss"} <= set(history.history)
    predicted = model.predict_replicas({"pixels": X_VAL}, verbose=0)
    assert {k: v.shape for k, v in predicted.items()} == {"digit": (2, 100, 10),
                                                          "odd": (2, 100, 1)}
    # Each replica scores as the same weights do in a plain Keras model: the
    # sample weights, both heads, the regularizer and the add_loss term included.
    scores = model.evaluate_replicas(**validation)
    for k in range(2):
        plain = model.replica(k).evaluate(**validation, verbose=0, return_dict=True)
        for name, values in scores.items():
            assert values[k] == pytest.approx(plain[name], rel=1e-5), name
    assert scores["loss"][0] > scores["digit_loss"][0] + scores["odd_loss"][0]


def test_terminate_on_nan_stops_only_when_every_replica_diverged():
    def run(poisoned):
        model = compiled(ks.SeededModel(digits_mlp, seeds=[1, 2]))
        for k in poisoned:
            model.set_replica_weights(k, [w * np.float32(1e30) if w.dtype.kind == "f" else w
                                          for w in model.get_replica_weights(k)])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            history = model.fit(X_TRAIN, Y_TRAIN, epochs=3, verbose=0,
                                callbacks=[keras.callbacks.TerminateOnNaN()])
        return model, history.history, caught

    model, logs, caught = run([0])
    assert len(logs["loss"]) == 3 and np.isfinite(logs["loss"]).all()
    assert model.diverged_replicas == [0]
    assert any("replica 0 (seed 1) diverged" in str(w.message) for w in caught)
    _, logs, _ = run([0, 1])
    assert len(logs["loss"]) == 1 and np.isnan(logs["loss"][0])


def test_replica_early_stopping_stops_replicas_one_by_one():
    model = compiled(ks.SeededModel(digits_mlp, replicas=3, seed=2))
    stop = ks.ReplicaEarlyStopping(monitor="val_loss", patience=1, min_delta=0.02,
                                   restore_best_weights=True)
    history = model.fit(X_TRAIN, Y_TRAIN, epochs=40, verbose=0, validation_data=(X_VAL, Y_VAL),
                        callbacks=[stop])
    assert sorted(stop.stopped_epoch) == [0, 1, 2]
    per_replica = model.replica_history(history, "val_loss")
    for k, epoch in stop.stopped_epoch.items():
        # Frozen after stopping: its later validation losses do not change.
        assert np.all(per_replica[epoch:, k] == per_replica[epoch, k])
    # Restored to its best epoch: evaluating now gives that epoch's best value.
    scores = model.evaluate_replicas(X_VAL, Y_VAL)["loss"]
    np.testing.assert_allclose(scores, stop.best, rtol=1e-5)


# ------------------------------------------------------------------ saving
def test_keras_file_round_trips_weights_seeds_and_replica_count(trained, tmp_path):
    model, _ = trained
    path = tmp_path / "replicas.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, ks.SeededModel)
    assert (loaded.replicas, loaded.replica_seeds, loaded.seed) == (3, model.replica_seeds, 7)
    assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), model.get_weights()))
    np.testing.assert_array_equal(loaded.predict_replicas(X_VAL, verbose=0),
                                  model.predict_replicas(X_VAL, verbose=0))
    assert loaded.evaluate_replicas(X_VAL, Y_VAL) == model.evaluate_replicas(X_VAL, Y_VAL)
    loaded.fit(X_TRAIN, Y_TRAIN, epochs=1, verbose=0)  # compiled again from the file


def test_functional_two_input_and_subclassed_members_train():
    def two_input():
        a, b = keras.Input((32,)), keras.Input((32,))
        joined = keras.layers.Concatenate()([keras.layers.Dense(8)(a), keras.layers.Dense(8)(b)])
        return keras.Model([a, b], keras.layers.Dense(10)(keras.layers.GaussianNoise(0.1)(joined)))

    class Small(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(8, activation="relu")
            self.out = keras.layers.Dense(10)

        def call(self, x):
            return self.out(self.hidden(x))

    for build, x in ((two_input, [X_TRAIN[:, :32], X_TRAIN[:, 32:]]), (Small, X_TRAIN)):
        model = ks.SeededModel(build, seeds=[1, 2])
        model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True))
        history = model.fit(x, Y_TRAIN, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        assert model.predict_replicas(x, verbose=0).shape == (2, 300, 10)


# --------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, error, message", [
    ({"replicas": 0, "seed": 1}, ValueError, "`replicas` must be an int >= 1; received replicas=0"),
    ({"replicas": 2.0, "seed": 1}, TypeError, "`replicas` must be an int >= 1; received replicas=2.0"),
    ({"replicas": True, "seed": 1}, TypeError, "`replicas` must be an int >= 1"),
    ({"seed": 1, "seeds": [1, 2]}, ValueError, "Pass either `seed` (with `replicas`) or `seeds`"),
    ({"seeds": [1, 2, 1]}, ValueError, "`seeds` must not repeat a seed"),
    ({"seeds": []}, ValueError, "`seeds` must hold at least one seed"),
    ({"seeds": [1, -2]}, ValueError, "`seeds[1]` must be an int in [0, 2**32 - 1]"),
    ({"seed": 1}, ValueError, "Pass `replicas`"),
    ({"seeds": [1, 2], "replicas": 3}, ValueError, "`replicas` must equal len(seeds)"),
])
def test_bad_replica_arguments_are_named(kwargs, error, message):
    with pytest.raises(error) as raised:
        ks.SeededModel(digits_mlp, **kwargs)
    assert message in str(raised.value)


def test_a_build_fn_that_returns_no_model_is_named():
    with pytest.raises(TypeError, match="`build_fn` must return a Keras model; it returned 3"):
        ks.SeededModel(lambda: 3, replicas=2, seed=0)
    with pytest.raises(TypeError, match="`build_fn` must be a function"):
        ks.SeededModel("mlp", replicas=2, seed=0)


def test_a_build_fn_whose_models_differ_in_shape_is_named():
    widths = iter([8, 8, 16])

    def build():
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(next(widths))])

    with pytest.raises(ValueError, match="`build_fn` returned models of different shapes: "
                                         "replica 0 .* but replica 2"):
        ks.SeededModel(build, replicas=3, seed=0)


def test_data_whose_batch_dimension_does_not_match_is_named():
    model = compiled(ks.SeededModel(digits_mlp, seeds=[1]))
    with pytest.raises(ValueError, match="`y` has 299 samples but `x` has 300"):
        model.fit(X_TRAIN, Y_TRAIN[:-1], verbose=0)
    with pytest.raises(ValueError, match="`sample_weight` has 2 samples but `x` has 300"):
        model.fit(X_TRAIN, Y_TRAIN, sample_weight=np.ones(2), verbose=0)
    with pytest.raises(ValueError, match="this dataset is infinite"):
        model.fit(tf.data.Dataset.from_tensor_slices((X_TRAIN, Y_TRAIN)).batch(8).repeat())


def test_replica_index_out_of_range_is_named(trained):
    model, _ = trained
    with pytest.raises(IndexError, match=r"`index` must be in \[0, 2\] for a model with 3 "
                                         r"replicas; received index=3"):
        model.replica(3)
    with pytest.raises(IndexError, match="received index=-1"):
        model.get_replica_weights(-1)
    with pytest.raises(TypeError, match="`index` must be an int"):
        model.replica(1.0)


def test_unknown_combine_and_coupling_optimizers_are_refused(trained):
    model, _ = trained
    with pytest.raises(ValueError, match="`combine` must be one of 'mean', 'mean_probs', "
                                         "'median'; received combine='vote'"):
        model.predict(X_VAL, combine="vote")
    fresh = ks.SeededModel(digits_mlp, seeds=[1, 2])
    with pytest.raises(ValueError, match="`optimizer`: Lamb looks across all values"):
        fresh.compile(optimizer=keras.optimizers.Lamb(), loss="mse")


@pytest.fixture
def mixed_float16():
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_mixed_float16_needs_loss_scaling_turned_off_and_then_trains_like_solo_runs(
        mixed_float16):
    from replica_runs import assert_replicas_are_solo_runs, digits, fit, outputs, solo_outputs

    # Keras would wrap the optimizer in one LossScaleOptimizer for all replicas.
    with pytest.raises(ValueError, match=r"^`auto_scale_loss`: the dtype policy is "
                                         r"mixed_float16, under which Keras scales the loss "
                                         r"with one LossScaleOptimizer per model\."):
        ks.SeededModel(digits_mlp, seeds=[1, 2]).compile("adam", "mse")
    data, (x_held, _) = digits()
    arguments = dict(epochs=2, compile_arguments={
        "loss": "sparse_categorical_crossentropy", "auto_scale_loss": False})
    fused = fit(digits_mlp, [1, 2], data, **arguments)
    assert type(fused.optimizer).__name__ == "Adam"
    assert fused.architecture.layers[0].compute_dtype == "float16"
    assert_replicas_are_solo_runs(outputs(fused, x_held),
                                  solo_outputs(digits_mlp, [1, 2], data, x_held, **arguments))
    keras.mixed_precision.set_global_policy("mixed_bfloat16")   # needs no loss scaling
    ks.SeededModel(digits_mlp, seeds=[1, 2]).compile("adam", "mse")


def test_reading_replica_values_raises_no_numpy_deprecation_warning():
    # numpy 2.4 warns when np.array() meets a Keras Variable's __array__ (no `copy`
    # keyword); a user running with -W error::DeprecationWarning must not trip on it.
    x, y = load_digits(return_X_y=True)
    x = (x[:96] / 16).astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        model = ks.SeededModel(digits_mlp, seeds=[1, 2])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y[:96], epochs=1, verbose=0, validation_split=0.25)
        model.replica(1)
        model.set_replica_weights(0, model.get_replica_weights(1))
        model.ensemble()
    for got, want in zip(model.get_replica_weights(0), model.get_replica_weights(1)):
        np.testing.assert_array_equal(got, want)


def test_an_unknown_fusing_strategy_is_refused():
    model = ks.SeededModel(digits_mlp, seeds=[1, 2])
    with pytest.raises(ValueError, match=r"^`strategy` must be one of \['auto', 'vectorized', "
                                         r"'unrolled', 'fastest'\]; received "
                                         r"strategy='vmap'\.$"):
        model.compile(loss="mse", strategy="vmap")


def test_a_timed_strategy_is_refused_on_tensorflow():
    # The probe times JAX-compiled steps; TensorFlow's auto needs no timing.
    model = ks.SeededModel(digits_mlp, seeds=[1, 2])
    with pytest.raises(ValueError, match=r"^`strategy`: 'fastest' times the two strategies "
                                         r"with JAX's compiler; on the tensorflow backend use "
                                         r"'auto' \(the vectorized step\) or name the strategy\. "
                                         r"Received strategy='fastest'\.$"):
        model.compile(loss="mse", strategy="fastest")


def test_unrolled_replicas_take_the_vectorized_replicas_step_on_tensorflow():
    # The strategy changes how the K replicas share a step, not what each one
    # computes: one SGD step agrees within float32 ulps, and the choice is recorded.
    x, y = load_digits(return_X_y=True)
    x = (x[:64] / 16).astype("float32")

    def one_step(strategy):
        model = ks.SeededModel(digits_mlp, seeds=[5, 6, 7])
        model.compile(optimizer=keras.optimizers.SGD(0.1), strategy=strategy,
                      loss="sparse_categorical_crossentropy")
        model.fit(x, y[:64], epochs=1, batch_size=32, steps_per_epoch=1, verbose=0)
        return model

    vectorized, unrolled = one_step("auto"), one_step("unrolled")
    assert vectorized.fusing == {
        "requested": "auto", "strategy": "vectorized",
        "rule": "auto on TensorFlow: vectorized (unrolling costs K times the tracing)",
        "repeatable": True, "probe_seconds_per_step": {}, "probe_compile_seconds": {},
        "probe_replicas": None}
    assert unrolled.fusing["strategy"] == "unrolled"
    assert unrolled.seed_record()["fusing"] == unrolled.fusing
    for k in range(3):
        assert_within_ulps(unrolled.get_replica_weights(k), vectorized.get_replica_weights(k),
                           what=f"replica {k}")
