"""The package layout keeps its promises: statistics work without Keras or
TensorFlow, imports point down the layers, and no two modules import each other."""

import ast
from pathlib import Path

from conftest import run_python

PACKAGE = Path(__file__).resolve().parents[1] / "keras_seeds"

# Layers, bottom first: a module imports only from its own layer or below.
# Statistics stand apart: they import only themselves and the bottom layer.
LAYERS = [
    ("keras_seeds._validation", "keras_seeds._files", "keras_seeds._versions",
     "keras_seeds._moved", "keras_seeds._internal",
     # the store and its readers import no Keras: statistics may read stores
     "keras_seeds.sweeps.store", "keras_seeds.sweeps.rows", "keras_seeds.sweeps.read",
     "keras_seeds.seeding.contract"),
    ("keras_seeds.seeding", "keras_seeds.data_order", "keras_seeds.records"),
    ("keras_seeds.run", "keras_seeds.replicas", "keras_seeds.sweeps",
     "keras_seeds.integrations"),
    ("keras_seeds.cli", "keras_seeds.demo"),
]
STATISTICS = "keras_seeds.statistics"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """keras_seeds modules that ``path`` imports, at module level or in a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("keras_seeds"):
                for alias in node.names:
                    candidate = f"{node.module}.{alias.name}"
                    known = (PACKAGE.parent / Path(*candidate.split("."))).with_suffix(".py")
                    package = PACKAGE.parent / Path(*candidate.split(".")) / "__init__.py"
                    found.add(candidate if known.exists() or package.exists() else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("keras_seeds."))
    return found - {"keras_seeds"}


def import_graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def layer_of(module: str) -> int | None:
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None


def test_every_module_has_its_place_in_the_layers():
    unplaced = [module for module in import_graph() if module != "keras_seeds"
                and not module.startswith(STATISTICS) and layer_of(module) is None]
    assert unplaced == []


def test_statistics_run_without_importing_keras_or_tensorflow(tmp_path):
    code = f"""
import sys
import keras_seeds as ks
a = ks.SeedStudy([0.95, 0.96, 0.94, 0.97, 0.95, 0.96], name="a")
b = ks.SeedStudy([0.89, 0.90, 0.88, 0.91, 0.90, 0.89], name="b")
a.summary(); a.outliers(); a.expected_max(3)
print(ks.compare(a, b).winner)
history = {{ks.replica_key("val_accuracy", 0): [0.5, 0.8],
           ks.replica_key("val_accuracy", 1): [0.6, 0.7]}}
print(ks.SeedStudy.from_history(history).n)
a.plot_distribution({str(tmp_path / 'distribution.png')!r})
print(sorted(m for m in ("keras", "tensorflow", "jax", "torch") if m in sys.modules))
"""
    out = run_python("-c", code).stdout.split()
    assert out == ["a", "2", "[]"]
    assert (tmp_path / "distribution.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_two_modules_import_each_other_directly_or_around_a_circle():
    graph = import_graph()
    state: dict[str, str] = {}
    cycles = []

    def visit(module, trail):
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycles.append(trail[trail.index(target):] + [target])
            elif target in graph and target not in state:
                visit(target, trail + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_imports_point_down_the_layers_and_statistics_stand_apart():
    wrong = []
    for module, targets in import_graph().items():
        for target in targets:
            if module.startswith(STATISTICS):
                if not (target.startswith(STATISTICS) or layer_of(target) == 0):
                    wrong.append(f"{module} -> {target}")
                continue
            source_layer, target_layer = layer_of(module), layer_of(target)
            if source_layer is not None and target_layer is not None \
                    and target_layer > source_layer:
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_the_private_mechanics_of_keras_live_in_the_one_checked_module():
    # Frame walks, standing in for Keras' train function and the undocumented
    # counters of its callbacks: only under _internal/, which
    # tests/internal/test_keras_private.py pins to the versions CI runs.
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "_internal":
            continue
        text = path.read_text()
        for mark in ("sys._getframe", "model.train_function = skip", "cooldown_counter",
                     '"stopped_epoch", "best", "best_weights"'):
            if mark in text:
                found.append(f"{path.relative_to(PACKAGE)}: {mark}")
    assert found == []


def test_importing_every_module_installs_nothing_in_tensorflows_logging():
    # TensorFlow's "while_loop" notice is filtered once a SeededModel makes its
    # step, not when keras-seeds is imported.
    code = """
import importlib, logging, pkgutil
import numpy as np
import keras_seeds
for module in pkgutil.walk_packages(keras_seeds.__path__, "keras_seeds."):
    importlib.import_module(module.name)
filters = logging.getLogger("tensorflow").filters
print(len(filters))
from keras_seeds.demo import digits_mlp
model = keras_seeds.SeededModel(digits_mlp, seeds=[1, 2])
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(np.zeros((4, 64), "float32"), np.zeros(4, "int32"), epochs=1, verbose=0)
print([type(f).__name__ for f in filters])
"""
    assert run_python("-c", code).stdout.split() == ["0", "['_QuietLoopFallback']"]


def test_one_run_callbacks_know_no_replica_class():
    # BackupAndRestore saves a SeededModel's engine state and ReplicaEarlyStopping's
    # counters through the protocols in records/restorable.py, not by their classes.
    graph = import_graph()
    for module in ("keras_seeds.run.backup_and_restore", "keras_seeds.run.seed_callback"):
        assert sorted(t for t in graph[module] if t.startswith("keras_seeds.replicas")) == []


def _docstring_lines(tree) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def test_rooms_stay_small():
    # No module over 500 lines and no class over 400, docstrings (and their
    # tested examples) aside: a decision that outgrows that gets its own module.
    big = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        docs = _docstring_lines(tree)
        code = len(path.read_text().splitlines()) - len(docs)
        if code > 500:
            big.append(f"{module_name(path)}: {code} lines")
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                lines = set(range(node.lineno, node.end_lineno + 1)) - docs
                if len(lines) > 400:
                    big.append(f"{module_name(path)}.{node.name}: {len(lines)} lines")
    assert big == []
