"""Peak memory of a fused K=4 fit that streams an on-disk dataset larger than 2 GB.

    python benchmarks/stream_memory.py [WORK_DIR] [--gigabytes 2.1]

Writes TFRecord shards of 64x64x3 uint8 images (random pixels, a label each) to
WORK_DIR (a temporary folder outside the repository by default, removed after), then
trains a ``SeededModel`` of 4 replicas of a small keras-io style CNN (a ``Rescaling``
layer first) for one epoch on ``tf.data.TFRecordDataset(...).map(parse).batch(...)``
with ``fit(data_order="shared")``: one read per step, shared by the replicas, nothing
held. Each phase runs in a fresh process; the script prints the size on disk, each
phase's peak RSS (``ru_maxrss``) and the ratio of the training's peak to the size.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

IMAGE = (64, 64, 3)
PER_SHARD = 4096
BATCH = 256


def write(work: str, gigabytes: float) -> dict:
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    images = int(gigabytes * 1e9 // np.prod(IMAGE)) + 1
    written = 0
    for shard in range(-(-images // PER_SHARD)):
        count = min(PER_SHARD, images - written)
        pixels = rng.integers(0, 256, (count,) + IMAGE, dtype=np.uint8)
        labels = rng.integers(0, 10, count)
        path = os.path.join(work, f"images-{shard:04d}.tfrecord")
        with tf.io.TFRecordWriter(path) as writer:
            for image, label in zip(pixels, labels):
                writer.write(tf.train.Example(features=tf.train.Features(feature={
                    "image": tf.train.Feature(bytes_list=tf.train.BytesList(
                        value=[image.tobytes()])),
                    "label": tf.train.Feature(int64_list=tf.train.Int64List(
                        value=[int(label)]))})).SerializeToString())
        written += count
    size = sum(os.path.getsize(os.path.join(work, name)) for name in os.listdir(work))
    return {"images": written, "bytes_on_disk": size}


def train(work: str) -> dict:
    import time

    import keras
    import tensorflow as tf

    import keras_seeds as ks

    def parse(record):
        example = tf.io.parse_single_example(record, {
            "image": tf.io.FixedLenFeature([], tf.string),
            "label": tf.io.FixedLenFeature([], tf.int64)})
        return tf.reshape(tf.io.decode_raw(example["image"], tf.uint8), IMAGE), example["label"]

    files = sorted(os.path.join(work, name) for name in os.listdir(work))
    pipeline = (tf.data.TFRecordDataset(files).map(parse, num_parallel_calls=2)
                .batch(BATCH).prefetch(2))

    def build():
        return keras.Sequential([
            keras.Input(IMAGE), keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.MaxPooling2D(4), keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax")])

    model = ks.SeededModel(build, replicas=4, seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    start = time.perf_counter()
    history = model.fit(pipeline, epochs=1, verbose=0, data_order="shared")
    return {"seconds": round(time.perf_counter() - start, 1),
            "loss": float(history.history["loss"][0]),
            "data_order": model.seed_record()["control"]["data_order"][:7]}


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _phase(name: str, work: str, gigabytes: float) -> dict:
    out = subprocess.run([sys.executable, __file__, work, "--phase", name, "--gigabytes",
                          str(gigabytes)], capture_output=True, text=True, check=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("work", nargs="?")
    parser.add_argument("--gigabytes", type=float, default=2.1)
    parser.add_argument("--phase", choices=["write", "train"])
    args = parser.parse_args()
    if args.phase:
        result = write(args.work, args.gigabytes) if args.phase == "write" else train(args.work)
        print(json.dumps({**result, "peak_rss_mb": round(_peak_mb())}))
        return
    work = args.work or tempfile.mkdtemp(prefix="keras-seeds-stream-")
    os.makedirs(work, exist_ok=True)
    try:
        written = _phase("write", work, args.gigabytes)
        trained = _phase("train", work, args.gigabytes)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    gb = written["bytes_on_disk"] / 1e9
    print(f"dataset on disk: {gb:.2f} GB, {written['images']} images of {IMAGE} uint8 "
          f"(writing: peak RSS {written['peak_rss_mb']} MB)")
    print(f"fused K=4 fit, one epoch, batch {BATCH}, data order {trained['data_order']!r}: "
          f"{trained['seconds']} s, loss {trained['loss']:.4f}")
    print(f"peak RSS of the training process: {trained['peak_rss_mb']} MB "
          f"({trained['peak_rss_mb'] / 1e3 / gb:.2f} of the dataset's size; target < 1500 MB)")


if __name__ == "__main__":
    main()
