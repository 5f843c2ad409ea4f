"""Every SeedGenerator in a model is found and re-seeded; weights re-drawn on request."""

import keras
import numpy as np
import pytest

import keras_seeds as ks
from keras_seeds.records.fingerprint import fingerprint_data, weights_fingerprint
from keras_seeds.seeding.layer_randomness import (
    reinitialize_weights,
    reseed_generators,
    seed_generators,
)


class CustomNoise(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.generator = keras.random.SeedGenerator()

    def call(self, x):
        return x + keras.random.normal(keras.ops.shape(x), seed=self.generator)


def noisy_model():
    inner = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.SpatialDropout2D(0.1),
                              keras.layers.Dropout(0.1)], name="inner")
    inputs = keras.Input((4, 4, 2))
    h = keras.layers.RandomFlip()(inputs)
    h = keras.layers.RandomRotation(0.1)(h)
    h = inner(h)
    h = keras.layers.Flatten()(h)
    for layer in (keras.layers.GaussianNoise(0.1), keras.layers.GaussianDropout(0.1),
                  keras.layers.AlphaDropout(0.1), CustomNoise()):
        h = layer(h)
    return keras.Model(inputs, keras.layers.Dense(1)(h))


def test_all_generator_kinds_are_found_and_reseeded():
    model = noisy_model()
    found = [(kind, type(layer).__name__) for kind, layer, _ in seed_generators(model)]
    assert sorted(found) == sorted([
        ("augment", "RandomFlip"), ("augment", "RandomRotation"),
        ("noise", "SpatialDropout2D"), ("noise", "Dropout"), ("noise", "GaussianNoise"),
        ("noise", "GaussianDropout"), ("noise", "AlphaDropout"), ("noise", "CustomNoise")])
    assert len(ks.audit(model).uncontrolled()) >= 8
    assert reseed_generators(model, noise_seed=1, augment_seed=2) == 8
    statuses = [i.status for i in ks.audit(model) if "' SeedGenerator (" in i.source]
    assert statuses == ["controlled"] * 8
    states = [np.asarray(g.state.value).tolist() for _, _, g in seed_generators(model)]
    reseed_generators(noisy_model(), noise_seed=1, augment_seed=2)
    again = noisy_model()
    reseed_generators(again, noise_seed=1, augment_seed=2)
    assert [np.asarray(g.state.value).tolist() for _, _, g in seed_generators(again)] == states


def test_augment_seed_does_not_move_noise_streams():
    a, b = noisy_model(), noisy_model()
    reseed_generators(a, noise_seed=1, augment_seed=2)
    reseed_generators(b, noise_seed=1, augment_seed=3)
    pairs = zip(seed_generators(a), seed_generators(b))
    for (kind, _, ga), (_, _, gb) in pairs:
        same = np.array_equal(np.asarray(ga.state.value), np.asarray(gb.state.value))
        assert same == (kind == "noise")


def test_reinitialize_is_a_function_of_seed_and_architecture_only():
    def model():
        return keras.Sequential([keras.Input((5,)), keras.layers.Embedding(7, 3),
                                 keras.layers.LSTM(4), keras.layers.BatchNormalization(),
                                 keras.layers.Dense(2)])

    a, b = model(), model()
    assert weights_fingerprint(a) != weights_fingerprint(b)
    reinitialize_weights(a, 5)
    reinitialize_weights(b, 5)
    assert weights_fingerprint(a) == weights_fingerprint(b)
    lstm_bias = a.layers[1].cell.bias.numpy()
    np.testing.assert_array_equal(lstm_bias[4:8], np.ones(4))  # unit_forget_bias kept
    reinitialize_weights(b, 6)
    assert weights_fingerprint(a) != weights_fingerprint(b)


def test_reinitialize_names_a_weight_without_initializer():
    class Bare(keras.layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(2,), name="w", initializer="ones")

        def call(self, x):
            return x * self.w

    model = keras.Sequential([keras.Input((2,)), Bare(name="bare")])
    with pytest.raises(ValueError, match=r"cannot re-draw variable '\S*bare/w' of layer 'bare' "
                                         r"\(Bare\): the layer has no `w_initializer`"):
        reinitialize_weights(model, 1)


def test_foreign_tf_data_is_described_and_says_it_is_not_hashed():
    import tensorflow as tf

    fingerprint = fingerprint_data(tf.data.Dataset.range(4))
    assert fingerprint["kind"] == "tf.data" and fingerprint["sha256"] is None
    assert fingerprint["cardinality"] == 4
    assert "not fingerprinted" in fingerprint["note"]
