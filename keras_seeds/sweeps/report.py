"""The folder a study leaves (a command-line sweep, the bundled study): what a
reader of the study needs, and the ensemble of its seeds ready to serve.

``<out>/study.json`` (:meth:`SeedStudy.save <keras_seeds.SeedStudy.save>`),
``<out>/report.md`` (or ``.html``) with its figures, ``<out>/manifest.json``
(the command, the store and configuration, the seeds by status, the ensemble
and the environment) and ``<out>/ensemble/``, the SavedModel of the fused
ensemble of every finished seed (:meth:`SeedEnsemble.from_store
<keras_seeds.SeedEnsemble.from_store>`), which plain TensorFlow serves.
"""

from __future__ import annotations

import os

from keras_seeds._files import write_json_atomically
from keras_seeds.records.manifest import environment_section, now
from keras_seeds.replicas.ensemble import SeedEnsemble
from keras_seeds.sweeps.store import SeedStore


def write_study_folder(study, out, ensemble, manifest: dict,
                       report_format: str = "md") -> dict[str, str]:
    """Writes ``study`` into the folder ``out``: ``study.json``, the report with
    its figures, ``ensemble/`` (the SavedModel of ``ensemble``; left out when
    ``ensemble`` is ``None``) and ``manifest.json`` (``manifest``, the files
    and the environment). Returns ``{what: path}``."""
    os.makedirs(out, exist_ok=True)
    paths = {"study": os.path.join(out, "study.json"),
             "report": os.path.join(out, f"report.{report_format}"),
             "manifest": os.path.join(out, "manifest.json"),
             "ensemble": os.path.join(out, "ensemble")}
    study.save(paths["study"])
    study.report(paths["report"])
    if ensemble is not None:
        ensemble.export(paths["ensemble"])
    else:
        del paths["ensemble"]
    write_json_atomically(paths["manifest"], {**manifest, "written": now(), "files": paths,
                                              "environment": environment_section()})
    return paths


def write_sweep_folder(study, store, build_fn, out, report_format: str = "md",
                       command=None, export: bool = True,
                       key: str | None = None) -> dict[str, str]:
    """Writes the folder for ``study`` (configuration ``key``, default the one
    named like the study, of ``store``: an open :class:`SeedStore` or its
    path) and returns ``{what: path}``; ``export=False`` leaves out the
    SavedModel (the manifest still names the ensemble's seeds).

    The command line's ``keras-seeds study BUILD_FN`` calls it (tested there).
    """
    store = SeedStore.of(store)
    key = key if key is not None else store.find_config(study.name)
    ensemble = SeedEnsemble.from_store(store, build_fn, config=key,
                                       name="seed_ensemble")
    by_status: dict[str, list[int]] = {}
    for run in store.runs(key):
        by_status.setdefault(run.status, []).append(run.seed)
    return write_study_folder(study, out, ensemble if export else None, {
        "kind": "keras-seeds sweep",
        "command": list(command) if command is not None else None,
        "store": os.path.abspath(os.fspath(store.path)),
        "configuration": {"name": study.name, "hash": key,
                          "definition": store.configs()[key]["definition"]},
        "seeds": by_status,
        "score": {"metric": study.metric, "higher_is_better": study.higher_is_better},
        "ensemble": {"seeds": ensemble.seeds, "score": study.ensemble_score},
    }, report_format=report_format)
