"""Import paths of 0.1.0 keep working until 0.3.0, each with a
DeprecationWarning that names the new path."""

import importlib

import pytest

from keras_seeds._moved import MOVED, REMOVED_IN

# one name users import from each old module
OLD_NAMES = {
    "keras_seeds.callback": "SeedCallback",
    "keras_seeds.backup": "BackupAndRestore",
    "keras_seeds.store": "SeedStore",
    "keras_seeds.sweep_engines": "ChunkSpec",
    "keras_seeds.sweep_progress": "SweepProgress",
    "keras_seeds.sweep_report": "write_study_folder",
    "keras_seeds.attributions": "attribute",
    "keras_seeds.seed_mlflow": "MLflowLogger",
    "keras_seeds.seed_tensorboard": "SeedTensorBoard",
}


def test_every_moved_module_is_covered():
    assert sorted(OLD_NAMES) == sorted(MOVED)


@pytest.mark.parametrize("old", sorted(OLD_NAMES))
def test_an_old_import_path_gives_the_same_object_with_a_deprecation_warning(old):
    name = OLD_NAMES[old]
    new = importlib.import_module(MOVED[old])
    module = importlib.import_module(old)  # ``import keras_seeds.store`` itself is silent
    with pytest.warns(DeprecationWarning) as warned:
        value = getattr(module, name)
    assert value is getattr(new, name)
    assert str(warned[0].message) == (
        f"{old}.{name} moved to {MOVED[old]}.{name} (or keras_seeds.{name} where it is "
        f"public); the old path goes in keras-seeds {REMOVED_IN}.")
    assert warned[0].filename == __file__  # points at the user's line


def test_from_the_old_sweeps_module_import_sweep_still_works():
    with pytest.warns(DeprecationWarning, match=r"keras_seeds\.sweeps\.sweep moved to "
                                                r"keras_seeds\.sweeps\.run\.sweep"):
        from keras_seeds.sweeps import sweep
    import keras_seeds as ks

    assert sweep is ks.sweep


def test_a_name_the_old_module_never_had_is_an_attribute_error():
    module = importlib.import_module("keras_seeds.callback")
    with pytest.raises(AttributeError, match="NoSuchThing"):
        module.NoSuchThing
