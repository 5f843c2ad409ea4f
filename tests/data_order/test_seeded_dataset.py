"""Owned shuffling: a seeded, different batch order every epoch, same in every process."""

import functools

import numpy as np
import pytest

import keras_seeds as ks

from conftest import run_script_json

# The fits of batch_orders.py, one after another in one process (Keras' own
# seeded shuffle first, before any SeedCallback); a second process repeats the
# seeded ones. One worker runs the tests that share them.
shared_orders = pytest.mark.xdist_group("batch_orders")


@functools.lru_cache(maxsize=None)
def orders(process: int) -> dict:
    if process == 1:
        return run_script_json("batch_orders.py", "3:keras", "3:arrays", "3:tfdata", "4:arrays",
                               "4:tfdata", "3:arrays:2", "3:plain")
    return run_script_json("batch_orders.py", "3:arrays", "3:tfdata")


@shared_orders
@pytest.mark.parametrize("source", ["arrays", "tfdata"])
def test_each_epoch_reshuffles_and_orders_repeat_across_processes(source):
    first = orders(1)[f"3:{source}"]
    second = orders(2)[f"3:{source}"]
    assert first == second
    assert len(first) == 4
    for epoch in first:
        assert sorted(epoch) == list(range(20))
    for previous, current in zip(first, first[1:]):
        assert previous != current
    other_seed = orders(1)[f"4:{source}"]
    assert other_seed != first


@shared_orders
def test_epoch_orders_follow_fit_epoch_number():
    full = orders(1)["3:arrays"]
    resumed = orders(1)["3:arrays:2"]
    assert resumed == full[2:]


@shared_orders
def test_keras_own_seeded_shuffle_repeats_one_order_and_seed_callback_owns_it():
    # The trap keras-seeds works around (Keras 3.15 / TF 2.21): with a global
    # seed, Keras' fit(x, y, shuffle=True) repeats one order every epoch. If a
    # Keras release changes that, revisit keras_seeds/data_order/keras_fit.py.
    keras_own = orders(1)["3:keras"]
    assert all(order == keras_own[0] for order in keras_own)
    assert sorted(keras_own[0]) == list(range(20))
    # Under SeedCallback the same fit sees seeded_dataset's orders of the seed.
    assert orders(1)["3:plain"] == orders(1)["3:arrays"]


def test_callback_controls_plain_array_shuffle_without_a_warning():
    import warnings

    import keras

    callback = ks.SeedCallback(1, manifest=None, verbose=0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=2, verbose=0,
                  callbacks=[callback])
    assert ks.audit(model).find("Data order")[0].status == "controlled"


def test_pipeline_orders_from_data_subseed_only():
    x = np.arange(12)

    def order(seeds):
        return next(iter(ks.seeded_dataset(x, batch_size=12, seed=seeds))).numpy().tolist()

    assert sorted(order(ks.Seeds(1))) == list(range(12))
    assert order(ks.Seeds(1, data=9)) == order(ks.Seeds(2, data=9))
    assert order(ks.Seeds(1)) != order(ks.Seeds(2))


def test_unshuffled_pipeline_keeps_order_and_drop_remainder():
    ds = ks.seeded_dataset(np.arange(10), np.arange(10), batch_size=4, seed=0,
                           shuffle=False, drop_remainder=True)
    assert int(ds.cardinality()) == 2
    assert [b[0].numpy().tolist() for b in ds] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_bad_pipeline_input_is_rejected():
    with pytest.raises(ValueError, match=r"same number of samples .* x: \[10\], y: \[9\]"):
        ks.seeded_dataset(np.zeros(10), np.zeros(9), seed=0)
    with pytest.raises(ValueError, match=r"`batch_size` must be an int >= 1; received "
                                         r"batch_size=0"):
        ks.seeded_dataset(np.zeros(10), batch_size=0, seed=0)
    with pytest.raises(ValueError, match="`seed` must be an int"):
        ks.seeded_dataset(np.zeros(10), seed=-5)


@pytest.mark.parametrize("num_samples", [1, 2, 3, 5, 64, 1437])
def test_the_numpy_order_is_tensorflows_stateless_shuffle_bit_for_bit(num_samples):
    # The JAX backend's replicas draw their orders with NumPy alone: they must be
    # the one definition, pass_order, index for index (Philox counters across a
    # 4-draw block, 64-bit seeds, a pass index above 2**32).
    from keras_seeds.data_order.order import (
        pass_order,
        pass_order_numpy,
        replica_orders,
        replica_orders_numpy,
    )

    seeds = [0, 7, 123456789, 2**40 + 5]
    for pass_index in (0, 3, 2**33 + 1):
        np.testing.assert_array_equal(
            replica_orders_numpy(num_samples, seeds, pass_index),
            replica_orders(num_samples, seeds, pass_index).numpy())
        np.testing.assert_array_equal(
            pass_order_numpy(num_samples, [seeds[1], pass_index]),
            pass_order(num_samples, [seeds[1], pass_index]).numpy())
    np.testing.assert_array_equal(replica_orders_numpy(num_samples, seeds, 0, shuffle=False),
                                  np.tile(np.arange(num_samples), (4, 1)))
