"""Seed statistics: how much of a score is the seed, and whether a change beats
seed noise. Functions over arrays (``functions``, ``rank_tests``,
``diversity``), metric names (``metric_names``), :class:`~keras_seeds.SeedStudy`
(``study``; its intervals' levels in ``interval_levels``, its JSON form in
``study_json``), :func:`~keras_seeds.compare` (``compare``), test-set noise
(``noise``), attribution by source (``attribution``), k-seed ensembles
(``ensembles``, scored by ``ensemble_scoring``) and spreads (``spreads``),
plots and reports.

Nothing in this package imports Keras or TensorFlow: a saved study is read,
summarised, compared and plotted anywhere (a test checks it in a fresh process).
"""

from keras_seeds.statistics.attribution import Attribution, attribute_variance  # noqa: F401
from keras_seeds.statistics.diversity import (  # noqa: F401
                                              REPLICA_SOLO_TOLERANCE,
                                              as_probabilities,
                                              member_diversity,
                                              replica_solo_gap,
)
from keras_seeds.statistics.ensembles import (  # noqa: F401
    EnsembleComparison,
    EnsemblePoints,
    SpreadComparison,
    compare_spreads,
    ensemble_comparison,
    ensemble_comparison_from_store,
    ensemble_points,
    ensemble_points_from_store,
)
from keras_seeds.statistics.functions import (  # noqa: F401
    EXPECTED_MAX_ESTIMATORS,
    OUTLIER_THRESHOLD,
    SeedStudyWarning,
    bonett_variance_interval,
    bootstrap_interval,
    expected_max,
    fewest_pairs_to_reject,
    fewest_seeds_to_separate,
    hodges_lehmann,
    improvement_interval,
    iqm,
    mann_whitney_p,
    max_of_n_weights,
    max_of_n_weights_without_replacement,
    pairs_to_detect,
    probability_of_improvement,
    robust_z,
    seeds_needed,
    seeds_to_detect,
    signed_rank_cdf,
    signed_rank_sum,
    smallest_mann_whitney_p,
    smallest_wilcoxon_p,
    t_interval,
    t_test_size,
    welch_interval,
    wilcoxon_p,
    win_rate_interval,
)
from keras_seeds.statistics.noise import (  # noqa: F401
                                              NoiseEstimate,
                                              best_above_median,
                                              noise_estimate,
                                              variance_parts,
)
