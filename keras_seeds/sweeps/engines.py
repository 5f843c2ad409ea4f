"""Where a sweep's chunks are trained: in this process, or as tasks on a Dask
cluster.

Either way the chunks are the same fused fits of the same seeds, and this
process alone writes the store: a Dask task builds its model inside the worker
(from ``build_fn`` and the data, or the function that loads it; a built Keras
model is never shipped), trains one chunk and returns its rows. A worker that
dies loses only the chunk it was training, which the Dask scheduler gives to
another worker; a chunk that raises is stored as failed, as in this process.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

logger = logging.getLogger("keras_seeds")

_EXTRA = "pip install 'keras-seeds[dask]'"


def failed_runs(chunk: list[int], done: set, error: BaseException) -> list:
    """The rows of a chunk that could not be trained: ``failed``, with the error."""
    from keras_seeds.sweeps.store import SeedRun

    reason = f"{type(error).__name__}: {error}"
    logger.warning("sweep: the chunk of seeds %s failed (%s); its seeds are marked failed "
                   "and a rerun tries them again.", chunk, reason)
    return [SeedRun(seed, "failed", error=reason) for seed in chunk if seed not in done]


def dask_client(engine):
    """``engine`` as a ``dask.distributed.Client``: a client is taken as it is, a
    scheduler address (``"tcp://host:8786"``) is connected to."""
    try:
        from distributed import Client
    except ImportError:
        raise ImportError(f"`engine`: sweeps on a Dask cluster need Dask distributed: "
                          f"{_EXTRA}.") from None
    if isinstance(engine, Client):
        return engine
    if isinstance(engine, str):
        return Client(engine)
    raise TypeError("`engine` must be None (this process), a dask.distributed.Client or a "
                    f"Dask scheduler address; received {engine!r}.")


def run_local(train: Callable, chunks: Iterable[list[int]], done: set,
              on_rows: Callable[[list], None], release: Callable[[], None]) -> None:
    """Trains the chunks one after the other in this process."""
    for chunk in chunks:
        try:
            rows = train(chunk, done)
        except Exception as error:  # one chunk's failure must not lose the others
            rows = failed_runs(chunk, done, error)
        on_rows(rows)
        release()


@dataclass
class ChunkSpec:
    """What a Dask worker needs to train any chunk of a sweep: the function that
    makes the job and its arguments (the user's ``build_fn``, the data or the
    function that loads it, compile and fit arguments), pickled here with
    cloudpickle, so that what ``cloudpickle.register_pickle_by_value`` names
    and ``__main__`` travel by value (Dask would pickle them by reference)."""

    payload: bytes
    threads: dict = field(default_factory=dict)  # worker address -> TF threads
    key: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def of(cls, make_job: Callable[..., Any], arguments: dict) -> "ChunkSpec":
        import cloudpickle

        return cls(cloudpickle.dumps((make_job, arguments)))

    def job(self):
        import pickle

        make_job, arguments = pickle.loads(self.payload)
        return make_job(**arguments)


_JOBS: dict = {}  # per worker process: ChunkSpec.key -> its job, built once


def _size_thread_pools(threads: int | None) -> None:
    """TensorFlow's thread pools to the worker's share of its host's cores; only
    possible before TensorFlow starts in this process (later it keeps its own)."""
    if not threads:
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # the runtime started already: the pools are fixed
        pass


def train_chunk_task(spec: ChunkSpec, chunk: list[int], done: set) -> list:
    """A Dask task: one chunk trained in this worker, its rows returned."""
    from distributed import get_worker

    address = get_worker().address
    _size_thread_pools(spec.threads.get(address))
    job = _JOBS.get(spec.key)
    if job is None:
        _JOBS.clear()  # one sweep's data at a time in a worker
        job = _JOBS[spec.key] = spec.job()
    try:
        rows = job.train(chunk, done)
    finally:
        job.release()
    for row in rows:
        row.manifest = {**(row.manifest or {}), "worker": address}
    return rows


def worker_threads(client) -> dict:
    """Each worker's share of its host's cores: the host's cores over the
    workers on it (at least 1)."""
    from keras_seeds.seeding.determinism import usable_cores

    counts = client.run(usable_cores)
    workers = client.scheduler_info()["workers"]
    per_host: dict = {}
    for address, info in workers.items():
        per_host[info.get("host")] = per_host.get(info.get("host"), 0) + 1
    return {address: max(1, counts.get(address, 1) // per_host[info.get("host")])
            for address, info in workers.items()}


def run_dask(client, spec: ChunkSpec, chunks: list[list[int]], done: set,
             on_rows: Callable[[list], None]) -> None:
    """Trains the chunks as tasks on ``client``'s cluster, writing each chunk's
    rows (through ``on_rows``, in this process) as it finishes."""
    from distributed import as_completed

    spec.threads = worker_threads(client)
    shipped = client.scatter(spec, broadcast=True, hash=False)
    futures = {client.submit(train_chunk_task, shipped, chunk, done & set(chunk),
                             pure=False, key=f"keras-seeds-chunk-{spec.key}-{index}"): chunk
               for index, chunk in enumerate(chunks)}
    for future in as_completed(futures):
        chunk = futures[future]
        try:
            rows = future.result()
        except Exception as error:  # a chunk that raised, or outlived too many workers
            rows = failed_runs(chunk, done, error)
        on_rows(rows)
        future.release()
