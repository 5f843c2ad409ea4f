"""SeededModel.fit on what keras.Model.fit takes besides arrays: a PyDataset
(every replica its own order of the batches, read as needed), streams
(generators, tf.data pipelines from files) read once per step and shared by
every replica, which the records say, and PNG files read with
keras.utils.image_dataset_from_directory."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

import keras_seeds as ks
from keras_seeds.data_order.order import pass_order
from keras_seeds.statistics import REPLICA_SOLO_TOLERANCE, replica_solo_gap

from sources_data import BATCH, SEEDS, Digits, fused, generator, images, replica_outputs, scaled_mlp

# The K=8 (the other tests, and the JAX run, use three seeds).
EIGHT = [11, 22, 33, 44, 55, 66, 77, 88]


def test_a_pydataset_gives_each_replica_its_own_batch_order_and_its_solo_run():
    (x, y), x_held = images()
    together = fused(EIGHT, Digits(x, y), epochs=2)
    n = -(-len(x) // BATCH)   # 7 batches, the last of 8 rows
    orders = together._parts.feed.batches.orders
    for k, seed in enumerate(EIGHT):
        for epoch in range(2):
            # Independently: the first n - 1 batches in pass_order, the short one last.
            expected = pass_order(n - 1, [ks.Seeds(seed).data, epoch]).numpy().tolist()
            assert orders(epoch)[k].tolist() == expected + [n - 1]
    assert len({tuple(orders(0)[k]) for k in range(len(EIGHT))}) == len(EIGHT)
    solo = []
    for seed in EIGHT:
        alone = Digits(x, y)
        model = fused([seed], alone, epochs=2)
        reads = [index for index in alone.reads[1:]]  # after fit's peek at batch 0
        assert reads[-2 * n:] == [i for e in range(2) for i in
                                  model._parts.feed.batches.orders(e)[0].tolist()]
        solo.append(replica_outputs(model, x_held)[0])
    gap = replica_solo_gap(replica_outputs(together, x_held), np.stack(solo))
    assert max(gap) <= REPLICA_SOLO_TOLERANCE, gap
    record = together.seed_record()["control"]["data_order"]
    assert record.startswith("controlled: every replica its own order of the PyDataset's "
                             "batches")


def test_a_generator_is_read_once_per_step_and_shared_by_every_replica():
    (x, y), _ = images()
    steps = -(-len(x) // BATCH)
    streamed = fused(SEEDS, generator(x, y, 2), epochs=2, steps_per_epoch=steps)
    # The same batches for every replica, in the generator's order: the arrays
    # unshuffled, bit for bit.
    # An endless tf.data pipeline, epochs of steps_per_epoch batches, is read alike.
    endless = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).repeat()
    repeated = fused(SEEDS, endless, epochs=2, steps_per_epoch=steps)
    unshuffled = fused(SEEDS, x, epochs=2, y=y, batch_size=BATCH, shuffle=False)
    for k in range(len(SEEDS)):
        for a, b, c in zip(streamed.get_replica_weights(k), repeated.get_replica_weights(k),
                           unshuffled.get_replica_weights(k)):
            np.testing.assert_array_equal(a, c)
            np.testing.assert_array_equal(b, c)
    assert streamed.seed_record()["control"]["data_order"].startswith("shared: one read per "
                                                                      "step")
    assert len({w.tobytes() for w in (streamed.get_replica_weights(k)[0]
                                      for k in range(len(SEEDS)))}) == len(SEEDS)


def test_a_tfrecord_pipeline_streams_with_a_shared_order_and_the_manifest_says_so(tmp_path):
    (x, y), _ = images()
    path = str(tmp_path / "digits.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for image, label in zip(x, y):
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                "image": tf.train.Feature(bytes_list=tf.train.BytesList(
                    value=[image.tobytes()])),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label]))}))
                .SerializeToString())

    def parse(record):
        example = tf.io.parse_single_example(record, {
            "image": tf.io.FixedLenFeature([], tf.string),
            "label": tf.io.FixedLenFeature([], tf.int64)})
        return tf.io.decode_raw(example["image"], tf.uint8), example["label"]

    # A file pipeline's length is unknown to Keras, which then counts one
    # optimizer step more per epoch (the one that finds the end; plain Keras
    # too): its length, asserted, makes it train as the arrays do.
    pipeline = tf.data.TFRecordDataset(path).map(parse).batch(BATCH).apply(
        tf.data.experimental.assert_cardinality(-(-len(x) // BATCH)))
    manifest = tmp_path / "manifest.json"
    model = ks.SeededModel(scaled_mlp, seeds=SEEDS)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(pipeline, epochs=2, verbose=0, data_order="shared",
              callbacks=[ks.SeedCallback(5, manifest=manifest, verbose=0)])
    unshuffled = fused(SEEDS, x, epochs=2, y=y, batch_size=BATCH, shuffle=False,
                        callbacks=[ks.SeedCallback(5, manifest=None, verbose=0)])
    for k in range(len(SEEDS)):
        np.testing.assert_array_equal(model.get_replica_weights(k)[0],
                                      unshuffled.get_replica_weights(k)[0])
    import json

    recorded = json.loads(manifest.read_text())
    assert "shared: one read per step" in json.dumps(recorded)


def test_uint8_arrays_stay_uint8_until_the_step():
    (x, y), _ = images()
    model = fused(SEEDS[:2], x, epochs=1, y=y, batch_size=BATCH)
    (held,) = [v for v in tf.nest.flatten(model._parts.feed.data)][:1]
    assert held.dtype == tf.uint8


def test_sources_that_cannot_do_what_is_asked_are_refused_with_what_to_do():
    (x, y), _ = images()
    with pytest.raises(ValueError, match=r"^`data_order`: x is a generator \(an iterator\): a "
                       r"stream, read once per step and shared by every replica, so it has "
                       r"no order to give each replica\. For per-replica orders pass arrays"):
        fused(SEEDS, generator(x, y, 1), steps_per_epoch=7, data_order="per_replica")
    infinite = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).repeat()
    with pytest.raises(ValueError, match=r"x is an infinite tf\.data\.Dataset: a stream"):
        fused(SEEDS, infinite, steps_per_epoch=7, data_order="per_replica")
    with pytest.raises(ValueError, match=r"^`steps_per_epoch`: x is an infinite tf\.data\."
                       r"Dataset, so this dataset is infinite and an epoch would never end"):
        fused(SEEDS, infinite)
    with pytest.raises(ValueError, match=r"^`data_order` must be None, 'per_replica' or "
                       r"'shared'; received data_order='own'\.$"):
        fused(SEEDS, x, y=y, data_order="own")
    with pytest.raises(ValueError, match=r"^`data_order`: arrays give every replica its own "
                       r"order; data_order='shared' is for a tf\.data\.Dataset or a PyDataset"):
        fused(SEEDS, x, y=y, data_order="shared")
    with pytest.raises(ValueError, match=r"^`y`: with x a PyDataset, SeededModel\.fit cannot "
                       r"apply y; pass them inside the source, as Keras does"):
        fused(SEEDS, Digits(x, y), y=y)
    with pytest.raises(ValueError, match=r"^`x`: the PyDataset's length changed between "
                       r"epochs, from 7 to 6 batches; each replica's order is a permutation"):
        fused(SEEDS, Digits(x, y, shrink_after_epoch=True), epochs=2)


def test_images_from_a_directory_train_eight_replicas_in_one_fit(tmp_path):
    # keras-io's vision input: image_dataset_from_directory over PNG files.
    digits = load_digits()
    pixels = (digits.images * 15).astype("uint8")
    pngs = np.concatenate([pixels, pixels[:, :, ::-1]])[:2400]   # and mirrored
    labels = np.concatenate([digits.target, digits.target])[:2400]
    for index, (image, label) in enumerate(zip(pngs, labels)):
        (tmp_path / str(label)).mkdir(exist_ok=True)
        keras.utils.save_img(tmp_path / str(label) / f"{index:05d}.png", image[:, :, None],
                             scale=False)
    from_disk = keras.utils.image_dataset_from_directory(
        tmp_path, image_size=(8, 8), color_mode="grayscale", batch_size=BATCH, shuffle=False)

    def cnn():
        return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Rescaling(1 / 255),
                                 keras.layers.Conv2D(4, 3, activation="relu"),
                                 keras.layers.Flatten(),
                                 keras.layers.Dense(10, activation="softmax")])

    def trained(*data, **fit_kwargs):
        model = ks.SeededModel(cnn, replicas=8, seed=0)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(*data, epochs=1, verbose=0, **fit_kwargs)
        return model

    disk = trained(from_disk)
    # The files in the loader's order (class folders, then names), as arrays.
    order = sorted(range(len(pngs)), key=lambda i: (labels[i], i))
    memory = trained(pngs[order][..., None].astype("float32"), labels[order],
                     batch_size=BATCH)
    for k in range(8):
        for a, b in zip(disk.get_replica_weights(k), memory.get_replica_weights(k)):
            np.testing.assert_array_equal(a, b)
    assert len({disk.get_replica_weights(k)[0].tobytes() for k in range(8)}) == 8
    assert disk.seed_record()["control"]["data_order"].startswith(
        "controlled: every replica its own order, replica k's pass e is pass_order")
