"""The seed store: one SQLite file that holds the results of seed sweeps.

One row per (configuration, seed): its status (``done``, ``diverged``,
``discarded``, ``failed`` with the error), score, final and per-epoch metrics,
optional outputs (validation predictions, for ensemble scores), timing and
manifest; per seed and evaluation split, its per-example correctness (one bit
each) or loss (float16), and its test predictions when the validation ones are
kept; per configuration and split, the labels the predictions are scored
against, and the scores of the ensemble of its seeds. A configuration is
identified by the hash of what defines it
(architecture, hyperparameters, data fingerprint), so two configurations live
side by side in one store and are compared from it.

The store is made for sweeps that are stopped and resumed and for several
processes writing at once: WAL journal, every write in one transaction, a
busy timeout and retries, and a row per (configuration, seed) that is never
duplicated (a seed already done stays as it is; a failed one may be retried).
A file that is not a keras-seeds store (another SQLite database, not SQLite at
all) or was written with a newer schema is refused with a clear message and
left untouched.

Imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

# A store's rows; imported from here by users and tests alike.
from keras_seeds.sweeps.rows import (  # noqa: F401
    EXAMPLE_KINDS,
    STATUSES,
    PerExample,
    SeedRun,
    array_bytes,
    array_from_bytes,
)

SCHEMA_VERSION = 1
# PRAGMA application_id marks the file as a keras-seeds store ("KSSD").
APPLICATION_ID = 0x4B535344
_RETRIES = 5

_SCHEMA = """
CREATE TABLE configs (
    config_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE runs (
    config_hash TEXT NOT NULL REFERENCES configs(config_hash),
    seed INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'diverged', 'discarded', 'failed')),
    score REAL,
    sub_seeds TEXT,
    metrics TEXT,
    history TEXT,
    outputs BLOB,
    error TEXT,
    seconds REAL,
    manifest TEXT,
    written REAL NOT NULL,
    PRIMARY KEY (config_hash, seed)
);
CREATE TABLE IF NOT EXISTS ensembles (
    config_hash TEXT PRIMARY KEY REFERENCES configs(config_hash),
    seeds TEXT NOT NULL,
    metrics TEXT NOT NULL,
    written REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS weights (
    config_hash TEXT NOT NULL REFERENCES configs(config_hash),
    seed INTEGER NOT NULL,
    arrays BLOB NOT NULL,
    PRIMARY KEY (config_hash, seed)
);
CREATE TABLE IF NOT EXISTS examples (
    config_hash TEXT NOT NULL REFERENCES configs(config_hash),
    seed INTEGER NOT NULL,
    split TEXT NOT NULL,
    kind TEXT NOT NULL,
    count INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (config_hash, seed, split)
);
CREATE TABLE IF NOT EXISTS outputs (
    config_hash TEXT NOT NULL REFERENCES configs(config_hash),
    seed INTEGER NOT NULL,
    split TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (config_hash, seed, split)
);
CREATE TABLE IF NOT EXISTS labels (
    config_hash TEXT NOT NULL REFERENCES configs(config_hash),
    split TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (config_hash, split)
)
"""
# Stores made before ensembles, weights, per-example results, test predictions
# and labels were kept lack those tables; they are added on the first write
# (older readers ignore them: the schema version stays).
_ENSEMBLES, _WEIGHTS, _EXAMPLES, _OUTPUTS, _LABELS = _SCHEMA[
    _SCHEMA.index("CREATE TABLE IF NOT EXISTS ensembles"):].split(";")


class StoreError(ValueError):
    """A path that cannot be used as a seed store, with the reason."""


def config_hash(definition: dict[str, Any]) -> str:
    """The identity of a configuration: SHA-256 of its JSON with sorted keys.

    Example:

    >>> config_hash({"lr": 0.01, "units": 64}) == config_hash({"units": 64, "lr": 0.01})
    True
    """
    text = json.dumps(definition, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def _dumps(value: Any) -> str | None:
    # NaN and infinities as JSON's non-standard tokens: read back exactly.
    return None if value is None else json.dumps(value, sort_keys=True)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _add_schema(connection: sqlite3.Connection) -> None:
    if connection.execute("PRAGMA user_version").fetchone()[0] == 0:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                connection.execute(statement)
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _in_transaction(connection: sqlite3.Connection, statements) -> Any:
    """``statements(connection)`` in one IMMEDIATE transaction, rolled back on error."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        result = statements(connection)
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    return result


class SeedStore:
    """A seed store at ``path`` (created if missing, unless ``create=False``).

    Example:

    >>> import tempfile, os
    >>> store = SeedStore(os.path.join(tempfile.mkdtemp(), "seeds.db"))
    >>> key = store.add_config({"units": 64}, name="mlp-64")
    >>> store.write(key, [SeedRun(1, "done", score=0.91), SeedRun(2, "failed", error="OOM")])
    2
    >>> sorted(store.done_seeds(key)), [run.status for run in store.runs(key)]
    ([1], ['done', 'failed'])
    """

    def __init__(self, path, *, create: bool = True, timeout: float = 30.0):
        self.path = Path(path)
        self.timeout = float(timeout)
        # One connection for the store's life, opened here (each process that
        # writes the store opens it once); a lock serialises threads on it.
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        exists = self.path.exists()
        if not exists and not create:
            raise StoreError(f"'{self.path}' does not exist (no seed store there).")
        # An empty file is a store another process is creating right now (or
        # nothing worth keeping): it is given the schema, once.
        if exists and self.path.stat().st_size > 0:
            self._open_existing()
        elif create:
            self._create()
        else:
            raise StoreError(f"'{self.path}' is empty (no seed store there).")

    @classmethod
    def of(cls, store) -> "SeedStore":
        """``store`` as an open :class:`SeedStore`: itself, or the existing
        store at that path (every reader takes either)."""
        return store if isinstance(store, SeedStore) else cls(store, create=False)

    @classmethod
    def open_if_exists(cls, path) -> "SeedStore | None":
        """The store at ``path`` if the file exists (a foreign or newer file is
        refused, untouched); else ``None`` once a store could be created there,
        so that bad arguments found later leave no file behind."""
        if Path(path).exists():
            return cls(path, create=False)
        cls.check_can_create(path)
        return None

    def close(self) -> None:
        """Closes the connection (a later call opens it again)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> "SeedStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- opening ----------------------------------------------------------
    def _connect(self, mode: str) -> sqlite3.Connection:
        uri = f"{self.path.resolve().as_uri()}?mode={mode}"
        connection = sqlite3.connect(uri, uri=True, timeout=self.timeout, isolation_level=None,
                                     check_same_thread=False)
        connection.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        return connection

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db is None:
                self._db = self._connect("rw")
            yield self._db

    def _open_existing(self) -> None:
        try:
            with open(self.path, "rb") as handle:
                header = handle.read(16)
        except OSError as error:
            raise StoreError(f"'{self.path}' cannot be read as a seed store: {error}.") from None
        if header != b"SQLite format 3\x00":
            raise StoreError(f"'{self.path}' is not a seed store: not an SQLite file. It was "
                             "left untouched; pass another --store path.")
        try:
            try:
                connection = self._connect("rw")
            except sqlite3.OperationalError:  # a read-only file: read it, writes will fail
                connection = self._connect("ro")
            application_id = connection.execute("PRAGMA application_id").fetchone()[0]
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            tables = connection.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
        except sqlite3.DatabaseError as error:
            raise StoreError(f"'{self.path}' cannot be read as a seed store: {error}.") from None
        self._db = connection
        if (application_id, version, tables) == (0, 0, 0):
            self._create()  # an empty database: another process is creating the store
            return
        if application_id != APPLICATION_ID or version > SCHEMA_VERSION:
            self.close()
        if application_id != APPLICATION_ID:
            raise StoreError(f"'{self.path}' is an SQLite database but not a keras-seeds seed "
                             "store; it was left untouched. Pass another --store path.")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"'{self.path}' was written by a newer keras-seeds (store schema {version}; "
                f"this one reads up to {SCHEMA_VERSION}); it was left untouched. Upgrade "
                "keras-seeds to use it.")

    @staticmethod
    def check_can_create(path) -> None:
        """Raises :class:`StoreError` unless a store can be created at ``path``:
        its directory exists and takes a new file (tried with a temporary file,
        removed at once: file modes do not stop root, a read-only mount does)."""
        path = Path(path)
        directory = path.parent
        if not directory.is_dir():
            raise StoreError(f"cannot create the seed store '{path}': directory "
                             f"'{directory}' does not exist.")
        try:
            with tempfile.TemporaryFile(dir=directory):
                pass
        except OSError as error:
            raise StoreError(f"cannot create the seed store '{path}': directory "
                             f"'{directory}' is not writable ({error.strerror}).") from None

    def _create(self) -> None:
        if self._db is None:
            self.check_can_create(self.path)
        try:
            if self._db is None:
                self._db = self._connect("rwc")
            # IMMEDIATE: two processes creating the same store at once take
            # turns; the second finds the schema there.
            self._retried(lambda c: _in_transaction(c, _add_schema))
            # WAL lets readers go on while a sweep writes (the mode stays with the file).
            self._retried(lambda c: c.execute("PRAGMA journal_mode = WAL"))
        except sqlite3.Error as error:
            raise StoreError(f"cannot create the seed store '{self.path}': {error}.") from None

    def _retried(self, step) -> Any:
        """``step(connection)``, run again while another process holds the lock
        beyond the busy timeout (switching to WAL is refused at once then)."""
        for attempt in range(_RETRIES):
            try:
                with self._connection() as connection:
                    return step(connection)
            except sqlite3.OperationalError as error:
                locked = "locked" in str(error) or "busy" in str(error)
                if not locked or attempt == _RETRIES - 1:
                    raise
                time.sleep(0.05 * 2 ** attempt)
        raise AssertionError("unreachable")

    def _write(self, statements) -> Any:
        """Runs ``statements(connection)`` in one transaction, retrying when
        another process holds the lock beyond the busy timeout."""
        try:
            return self._retried(lambda connection: _in_transaction(connection, statements))
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise StoreError(f"cannot write the seed store '{self.path}': "
                                 f"{error}.") from None
            raise StoreError(f"the seed store '{self.path}' stayed locked by another "
                             f"process ({error}).") from None

    # -- configurations ---------------------------------------------------
    def add_config(self, definition: dict[str, Any], name: str | None = None) -> str:
        """Registers a configuration (once; later calls keep the first name) and
        returns its hash."""
        key = config_hash(definition)
        text = json.dumps(definition, sort_keys=True, default=repr)
        if name is not None:
            for other, info in self.configs().items():
                if info["name"] == name and other != key:
                    differ = sorted(k for k in set(info["definition"]) | set(definition)
                                    if info["definition"].get(k) != json.loads(text).get(k))
                    raise StoreError(
                        f"`config`: the name {name!r} is already used in '{self.path}' by "
                        f"another configuration (they differ in {', '.join(differ)}); give "
                        "this one another name.")
        self._write(lambda c: c.execute(
            "INSERT OR IGNORE INTO configs VALUES (?, ?, ?, ?)",
            (key, name or key[:12], text, time.time())))
        return key

    def configs(self) -> dict[str, dict[str, Any]]:
        """``{hash: {"name", "definition", "runs"}}`` of every configuration."""
        with self._connection() as connection:
            rows = connection.execute(
                "SELECT c.config_hash, c.name, c.definition, COUNT(r.seed) FROM configs c "
                "LEFT JOIN runs r ON r.config_hash = c.config_hash GROUP BY c.config_hash "
                "ORDER BY c.created").fetchall()
        return {key: {"name": name, "definition": json.loads(text), "runs": count}
                for key, name, text, count in rows}

    def only_config(self) -> str:
        """The hash of the store's one configuration (an error names them all
        when there are several)."""
        configs = self.configs()
        if len(configs) != 1:
            names = ", ".join(info["name"] for info in configs.values()) or "none"
            raise StoreError(f"`config`: '{self.path}' holds {len(configs)} configurations "
                             f"({names}); name the one to use.")
        return next(iter(configs))

    def find_config(self, name_or_hash: str) -> str:
        """The hash of the configuration with that name or hash (prefix)."""
        matches = [key for key, info in self.configs().items()
                   if info["name"] == name_or_hash or key.startswith(name_or_hash)]
        if len(matches) != 1:
            known = ", ".join(info["name"] for info in self.configs().values()) or "none"
            what = "no" if not matches else "more than one"
            raise StoreError(f"`config`: {what} configuration in '{self.path}' is named "
                             f"{name_or_hash!r}; it holds: {known}.")
        return matches[0]

    # -- runs -------------------------------------------------------------
    def write(self, key: str, runs: list[SeedRun]) -> int:
        """Writes the runs of configuration ``key`` in one transaction; returns how
        many rows were written. A seed already done, diverged or discarded is
        kept as it is (never a second row); a failed one is replaced."""
        def insert(connection) -> int:
            written = 0
            for run in runs:
                cursor = connection.execute(
                    "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (config_hash, seed) DO UPDATE SET status = excluded.status, "
                    "score = excluded.score, sub_seeds = excluded.sub_seeds, "
                    "metrics = excluded.metrics, history = excluded.history, "
                    "outputs = excluded.outputs, error = excluded.error, "
                    "seconds = excluded.seconds, manifest = excluded.manifest, "
                    "written = excluded.written WHERE runs.status = 'failed'",
                    (key, int(run.seed), run.status,
                     None if run.score is None or math.isnan(run.score) else float(run.score),
                     _dumps(run.sub_seeds), _dumps(run.metrics), _dumps(run.history),
                     run.outputs, run.error, run.seconds, _dumps(run.manifest), time.time()))
                written += cursor.rowcount
                if cursor.rowcount and run.weights is not None:
                    connection.execute(_WEIGHTS)
                    connection.execute("INSERT OR REPLACE INTO weights VALUES (?, ?, ?)",
                                       (key, int(run.seed), run.weights))
                if cursor.rowcount and run.test_outputs is not None:
                    connection.execute(_OUTPUTS)
                    connection.execute("INSERT OR REPLACE INTO outputs VALUES (?, ?, ?, ?)",
                                       (key, int(run.seed), "test", run.test_outputs))
                if cursor.rowcount and run.examples:
                    connection.execute(_EXAMPLES)
                    for split, record in run.examples.items():
                        connection.execute(
                            "INSERT OR REPLACE INTO examples VALUES (?, ?, ?, ?, ?, ?)",
                            (key, int(run.seed), split, record.kind, len(record.values),
                             record.encode()))
            return written

        if not runs:
            return 0
        return self._write(insert)

    def done_seeds(self, key: str) -> set[int]:
        """Seeds of configuration ``key`` that need no rerun (all but failed)."""
        with self._connection() as connection:
            rows = connection.execute(
                "SELECT seed FROM runs WHERE config_hash = ? AND status != 'failed'",
                (key,)).fetchall()
        return {seed for (seed,) in rows}

    def runs(self, key: str) -> list[SeedRun]:
        """Every run of configuration ``key``, by seed."""
        with self._connection() as connection:
            rows = connection.execute(
                "SELECT seed, status, score, sub_seeds, metrics, history, outputs, error, "
                "seconds, manifest FROM runs WHERE config_hash = ? ORDER BY seed",
                (key,)).fetchall()
        return [SeedRun(seed, status, score, _loads(sub_seeds), _loads(metrics) or {},
                        _loads(history) or {}, outputs, error, seconds, _loads(manifest))
                for (seed, status, score, sub_seeds, metrics, history, outputs, error,
                     seconds, manifest) in rows]

    # -- ensembles --------------------------------------------------------
    def set_ensemble(self, key: str, seeds, metrics: dict[str, float]) -> None:
        """Records the metrics of the ensemble of configuration ``key``'s
        ``seeds`` (replacing an earlier one)."""
        def replace(connection) -> None:
            connection.execute(_ENSEMBLES)
            connection.execute("INSERT OR REPLACE INTO ensembles VALUES (?, ?, ?, ?)",
                               (key, json.dumps(sorted(int(s) for s in seeds)),
                                _dumps(metrics), time.time()))

        self._write(replace)

    def ensemble(self, key: str) -> tuple[list[int], dict[str, float]] | None:
        """``(seeds, metrics)`` of configuration ``key``'s ensemble, or ``None``."""
        with self._connection() as connection:
            try:
                row = connection.execute("SELECT seeds, metrics FROM ensembles WHERE "
                                         "config_hash = ?", (key,)).fetchone()
            except sqlite3.OperationalError:  # a store made before ensembles were kept
                return None
        return None if row is None else (json.loads(row[0]), _loads(row[1]))

    def examples(self, key: str, split: str = "validation") -> dict[int, PerExample]:
        """``{seed: PerExample}`` of configuration ``key`` on ``split``
        (``"validation"`` or ``"test"``): each seed's per-example correctness
        or loss, as the sweep kept it."""
        with self._connection() as connection:
            try:
                rows = connection.execute(
                    "SELECT seed, kind, count, data FROM examples WHERE config_hash = ? AND "
                    "split = ? ORDER BY seed", (key, split)).fetchall()
            except sqlite3.OperationalError:  # a store made before they were kept
                return {}
        return {seed: PerExample.decode(kind, count, data) for seed, kind, count, data in rows}

    def predictions(self, key: str, split: str = "validation") -> dict[int, np.ndarray]:
        """``{seed: predictions}`` of configuration ``key`` on ``split``
        (``"validation"``: the runs' ``outputs``; ``"test"``: their
        ``test_outputs``), for the seeds that kept them.

        Example:

        >>> import tempfile, os
        >>> store = SeedStore(os.path.join(tempfile.mkdtemp(), "seeds.db"))
        >>> key = store.add_config({"units": 64})
        >>> _ = store.write(key, [SeedRun(1, "done", score=0.5, outputs=array_bytes([0.2, 0.7]),
        ...                                test_outputs=array_bytes([0.9]))])
        >>> store.predictions(key), store.predictions(key, "test")
        ({1: array([0.2, 0.7], dtype=float32)}, {1: array([0.9], dtype=float32)})
        """
        if split not in ("validation", "test"):
            raise ValueError(f"`split` must be 'validation' or 'test'; received split={split!r}.")
        query = ("SELECT seed, outputs FROM runs WHERE config_hash = ? AND outputs IS NOT NULL "
                 "ORDER BY seed" if split == "validation" else
                 "SELECT seed, data FROM outputs WHERE config_hash = ? AND split = 'test' "
                 "ORDER BY seed")
        with self._connection() as connection:
            try:
                rows = connection.execute(query, (key,)).fetchall()
            except sqlite3.OperationalError:  # a store made before test outputs were kept
                return {}
        return {seed: array_from_bytes(data) for seed, data in rows}

    def set_labels(self, key: str, split: str, labels) -> None:
        """Records the labels of configuration ``key``'s ``split``
        (``"validation"`` or ``"test"``), what its kept predictions are scored
        against (replacing earlier ones: a configuration's data is part of its
        identity, so they are the same)."""
        if split not in ("validation", "test"):
            raise ValueError(f"`split` must be 'validation' or 'test'; received split={split!r}.")
        data = array_bytes(labels)

        def replace(connection) -> None:
            connection.execute(_LABELS)
            connection.execute("INSERT OR REPLACE INTO labels VALUES (?, ?, ?)",
                               (key, split, data))

        self._write(replace)

    def labels(self, key: str, split: str = "validation") -> np.ndarray | None:
        """The labels :meth:`set_labels` kept for ``key``'s ``split``, or ``None``.

        Example:

        >>> import tempfile, os
        >>> store = SeedStore(os.path.join(tempfile.mkdtemp(), "seeds.db"))
        >>> key = store.add_config({"units": 64})
        >>> store.set_labels(key, "test", np.array([2, 0, 1]))
        >>> store.labels(key, "test").tolist(), store.labels(key, "validation")
        ([2, 0, 1], None)
        """
        with self._connection() as connection:
            try:
                row = connection.execute("SELECT data FROM labels WHERE config_hash = ? AND "
                                         "split = ?", (key, split)).fetchone()
            except sqlite3.OperationalError:  # a store made before labels were kept
                return None
        return None if row is None else array_from_bytes(row[0])

    def weights(self, key: str, seeds=None) -> dict[int, bytes]:
        """``{seed: .npz bytes}`` of the trained variables kept for configuration
        ``key`` (all its seeds, or those in ``seeds``)."""
        with self._connection() as connection:
            try:
                rows = connection.execute("SELECT seed, arrays FROM weights WHERE "
                                          "config_hash = ? ORDER BY seed", (key,)).fetchall()
            except sqlite3.OperationalError:  # a store made before weights were kept
                return {}
        wanted = None if seeds is None else {int(s) for s in seeds}
        return {seed: arrays for seed, arrays in rows if wanted is None or seed in wanted}
