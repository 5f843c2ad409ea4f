import numpy as np
import pytest

import keras_seeds as ks
from keras_seeds.seeding.contract import SUBSEED_KEYS


@pytest.mark.parametrize("bad, error, fragment", [
    (-1, ValueError, "received seed=-1."),
    (2**32, ValueError, "received seed=4294967296."),
    (1.0, TypeError, "received seed=1.0 of type float."),
    (True, TypeError, "received seed=True of type bool."),
    ("42", TypeError, "received seed='42' of type str."),
    (None, TypeError, "received seed=None of type NoneType."),
    (np.float64(3), TypeError, "of type float64."),
])
def test_check_seed_rejects_with_typed_error_naming_argument(bad, error, fragment):
    with pytest.raises(error) as info:
        ks.check_seed(bad)
    message = str(info.value)
    assert message.startswith("`seed` must be an int in [0, 2**32 - 1]")
    assert fragment in message


def test_check_seed_accepts_numpy_ints_and_bounds():
    assert ks.check_seed(np.uint32(2**32 - 1)) == 2**32 - 1
    assert ks.check_seed(0) == 0
    assert type(ks.check_seed(np.int64(5))) is int


def test_subseeds_equal_independent_seedsequence_computation():
    seeds = ks.Seeds(42)
    for name, key in SUBSEED_KEYS.items():
        expected = np.random.SeedSequence(42, spawn_key=(key,)).generate_state(1, np.uint32)[0]
        assert seeds[name] == int(expected)
    assert len(set(seeds.as_dict().values())) == 5


def test_pinning_one_subseed_changes_only_it():
    base, pinned = ks.Seeds(1), ks.Seeds(1, data=99)
    assert pinned.data == 99
    for name in ("init", "noise", "augment", "split"):
        assert pinned[name] == base[name]
    assert ks.Seeds(2, init=5).init == ks.Seeds(3, init=5).init == 5
    assert ks.Seeds(2, init=5).data != ks.Seeds(3, init=5).data


def test_unknown_subseed_name_is_a_clear_value_error():
    with pytest.raises(ValueError, match=r"Unknown sub-seed name 'weights'; expected one "
                                         r"of: init, data, noise, augment, split\."):
        ks.Seeds(1, weights=3)
    with pytest.raises(ValueError, match="Unknown sub-seed name 'x'"):
        ks.Seeds(1)["x"]


def test_pinned_subseed_none_or_bad_is_rejected_naming_it():
    with pytest.raises(TypeError, match=r"`data` must be an int .* received data=None"):
        ks.Seeds(1, data=None)
    with pytest.raises(ValueError, match=r"`noise` must be an int .* received noise=-3"):
        ks.Seeds(1, noise=-3)


def test_none_draws_a_recorded_seed_and_config_round_trips():
    seeds = ks.Seeds(None)
    assert seeds.drawn and 0 <= seeds.master < 2**32
    again = ks.Seeds.from_config(seeds.to_config())
    assert again == seeds and again.drawn


def test_seeds_that_derive_the_same_sub_seeds_are_equal_and_hash_alike():
    pinned_to_own_value = ks.Seeds(1, data=ks.Seeds(1).data)
    assert pinned_to_own_value == ks.Seeds(1)
    assert {pinned_to_own_value, ks.Seeds(1)} == {ks.Seeds(1)}
    assert ks.Seeds(1, data=0) != ks.Seeds(1)
    assert len({ks.Seeds(1, data=0), ks.Seeds(1), ks.Seeds(2)}) == 3
