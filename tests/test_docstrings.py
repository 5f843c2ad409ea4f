"""Every public name shows a runnable example, and the doctest run runs it.

"Runnable example" means what the doctest run executes: a docstring from which
``doctest`` parses at least one example, found by ``doctest.DocTestFinder`` in
the module that defines the name (what ``--doctest-modules`` collects), in a
module that the project's pytest configuration does not leave out.
"""

import doctest
import functools
import importlib
import inspect
import re
import sys
from pathlib import Path

import keras
import pytest

import keras_seeds

PACKAGE = Path(keras_seeds.__file__).resolve().parent

# The Keras classes whose methods a subclass overrides as hooks (fit, call,
# get_config, on_epoch_end, metrics, ...): Keras documents those, and Keras calls
# them, so they need no example of their own.
KERAS_BASES = (keras.Model, keras.layers.Layer, keras.callbacks.Callback)

# What a class member can be that users call: methods and properties. Data
# attributes (dataclass fields such as ``Comparison.paired``) are described in
# the class docstring's Attributes section; they hold no behaviour to show.
MEMBER_KINDS = (staticmethod, classmethod, property, functools.cached_property)


@functools.cache
def examples_in(module_name: str) -> dict[str, list[doctest.Example]]:
    """The doctests ``--doctest-modules`` finds in a module: {qualified name:
    examples}, only those with at least one example."""
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    return {test.name: test.examples for test in finder.find(module, module.__name__)
            if test.examples}


def own_examples(module_name: str, qualname: str) -> list[doctest.Example]:
    """The examples of the docstring of ``qualname`` itself. Not ``inspect.getdoc``:
    for a class or method without a docstring it returns the base's (keras.Model's,
    with Keras' own examples), which would let an undocumented name pass."""
    return examples_in(module_name).get(f"{module_name}.{qualname}", [])


def public_objects() -> dict[str, object]:
    return {name: getattr(keras_seeds, name) for name in keras_seeds.__all__}


def public_classes() -> dict[str, type]:
    return {name: obj for name, obj in public_objects().items() if inspect.isclass(obj)}


def keras_hooks(cls: type) -> set[str]:
    """Names ``cls`` inherits from the Keras bases it derives from. Only those: a
    ``save`` on a class that is no Keras model (``SeedStudy.save``) is its own."""
    return {name for base in KERAS_BASES if issubclass(cls, base) for name in dir(base)}


def public_members(cls: type) -> dict[str, type]:
    """``{name: defining class}`` for the public methods and properties of
    ``cls`` and its keras-seeds bases that are not Keras hooks."""
    hooks, members = keras_hooks(cls), {}
    for owner in cls.__mro__:
        if not owner.__module__.startswith("keras_seeds."):
            continue
        for name, value in vars(owner).items():
            if (name.startswith("_") or name in hooks or name in members
                    or not (inspect.isfunction(value) or isinstance(value, MEMBER_KINDS))):
                continue
            members[name] = owner
    return members


def calls(examples: list[doctest.Example], name: str) -> bool:
    """Whether an example's code uses the attribute ``name`` (``.name``)."""
    pattern = re.compile(rf"\.{re.escape(name)}\b")
    return any(pattern.search(example.source) for example in examples)


def defining_module(name: str, obj) -> str:
    if inspect.isclass(obj) or inspect.isroutine(obj):
        return obj.__module__
    # A constant has no __module__: the package's table of where each name lives.
    return f"keras_seeds.{keras_seeds._EXPORTS[name]}"


def test_every_public_class_and_function_has_an_example():
    missing = sorted(name for name, obj in public_objects().items()
                     if (inspect.isclass(obj) or inspect.isroutine(obj))
                     and not own_examples(obj.__module__, obj.__qualname__))
    assert not missing, ("public names whose own docstring has no doctest example: "
                         + ", ".join(missing))


def test_every_public_constant_is_shown_in_its_modules_example():
    # A constant (SUBSEED_NAMES, a tuple) cannot carry a docstring of its own, and
    # help() on it describes tuple. Users meet it in the docs of the module that
    # defines it, so that module's docstring must show it in a running example.
    missing = []
    for name, obj in public_objects().items():
        if inspect.isclass(obj) or inspect.isroutine(obj):
            continue
        module = defining_module(name, obj)
        if not any(re.search(rf"\b{re.escape(name)}\b", example.source)
                   for example in examples_in(module).get(module, [])):
            missing.append(f"{name} (in the docstring of {module})")
    assert not missing, ("public constants that no example in their module's docstring "
                         "uses: " + ", ".join(missing))


def test_every_public_method_and_property_has_an_example():
    # Own example, or the class example calls it: ``model.replica_history(...)``
    # in SeededModel's example documents replica_history as well as its own would.
    missing = []
    for class_name, cls in public_classes().items():
        class_examples = own_examples(cls.__module__, cls.__qualname__)
        for name, owner in sorted(public_members(cls).items()):
            owner_examples = own_examples(owner.__module__, owner.__qualname__)
            if not (own_examples(owner.__module__, f"{owner.__qualname__}.{name}")
                    or calls(class_examples, name) or calls(owner_examples, name)):
                missing.append(f"{class_name}.{name}")
    assert not missing, ("public methods/properties with no doctest example of their own "
                         "and not called in their class's example: " + ", ".join(missing))


def test_the_members_are_found():
    # The check above must see real members, not an empty list that passes.
    assert {"replica_history", "freeze_replica", "frozen_replicas"} <= set(
        public_members(keras_seeds.SeededModel))
    assert {"n", "save", "from_history"} <= set(public_members(keras_seeds.SeedStudy))
    assert "fit" not in public_members(keras_seeds.SeededModel)
    assert "paired" not in public_members(keras_seeds.Comparison)


class CollectedItems:
    """A pytest plugin that keeps the node ids a session collected."""

    def __init__(self):
        self.ids: set[str] = set()

    def pytest_collection_finish(self, session):
        self.ids = {item.nodeid for item in session.items}


def test_modules_with_public_names_are_collected_by_the_doctest_run(request):
    # The project's own run collects the package (testpaths) with the project's
    # configuration: what setup.cfg's addopts, norecursedirs and any conftest's
    # collect_ignore, collect_ignore_glob or hooks leave of it is what runs. An
    # in-process collection of the package, under that configuration, says so.
    config = request.config
    assert config.inipath is not None and "keras_seeds" in config.getini("testpaths"), (
        f"pytest's testpaths {config.getini('testpaths')} leave out the package")
    collected = CollectedItems()
    # Two plugins that collect nothing are left out: pytest-benchmark (if installed)
    # would warn that xdist is on, and unraisableexception's cleanup runs gc.collect
    # five times over TensorFlow's heap (seconds; the collection takes 0.2 s).
    code = pytest.main(["--collect-only", "-qq", "-p", "no:benchmark",
                        "-p", "no:unraisableexception", "-c", str(config.inipath),
                        "--rootdir", str(config.rootpath), str(PACKAGE)], plugins=[collected])
    assert code == pytest.ExitCode.OK, f"collecting {PACKAGE} failed ({code!r})"

    modules = {"keras_seeds"} | {defining_module(name, obj)
                                 for name, obj in public_objects().items()}
    left_out = []
    for module in sorted(modules):
        doctests = sorted(examples_in(module))  # imports the module
        path = Path(sys.modules[module].__file__).resolve().relative_to(config.rootpath)
        left_out += [f"{path.as_posix()}::{name}" for name in doctests
                     if f"{path.as_posix()}::{name}" not in collected.ids]
    assert not left_out, ("doctests of modules with public names that the project's test "
                          "run does not collect: " + ", ".join(left_out))
