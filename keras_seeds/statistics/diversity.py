"""How differently seed replicas predict: member diversity, and how close a
fused replica is to its seed's solo run. Functions over arrays of outputs
shaped ``(K, n, ...)``; nothing here imports Keras or TensorFlow.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def as_probabilities(outputs) -> np.ndarray:
    """Class probabilities from members' outputs ``(..., classes)``: kept if
    every row is already a distribution, else taken as logits (softmax).

    Example:

    >>> as_probabilities(np.array([[0.0, 0.0]]))
    array([[0.5, 0.5]])
    """
    outputs = np.asarray(outputs, dtype=float)
    if np.all(outputs >= 0) and np.allclose(outputs.sum(axis=-1), 1.0, atol=1e-3):
        return outputs
    from scipy.special import softmax

    return softmax(outputs, axis=-1)


def member_diversity(probabilities) -> dict[str, float]:
    """How differently K classifiers predict, from probabilities ``(K, n, classes)``.

    - ``disagreement``: the mean over examples of the fraction of members whose
      top class differs from the ensemble's (the mean probabilities');
    - ``pairwise_disagreement``: the fraction of examples on which two members'
      top classes differ, averaged over pairs;
    - ``pairwise_kl``: ``KL(p_i || p_j)`` (``scipy.stats.entropy``) averaged
      over examples and ordered pairs ``i != j``.

    Example:

    >>> p = np.array([[[0.9, 0.1]], [[0.2, 0.8]]])   # two members, one example
    >>> {k: round(v, 3) for k, v in member_diversity(p).items()}
    {'disagreement': 0.5, 'pairwise_disagreement': 1.0, 'pairwise_kl': 1.254}
    """
    probabilities = np.asarray(probabilities, dtype=float)
    members = probabilities.shape[0]
    votes = probabilities.argmax(axis=-1)
    chosen = probabilities.mean(axis=0).argmax(axis=-1)
    result = {"disagreement": float(np.mean(votes != chosen))}
    if members < 2:
        return {**result, "pairwise_disagreement": 0.0, "pairwise_kl": 0.0}
    i, j = np.nonzero(~np.eye(members, dtype=bool))
    result["pairwise_disagreement"] = float(np.mean(votes[i] != votes[j]))
    result["pairwise_kl"] = float(np.mean(
        stats.entropy(probabilities[i], probabilities[j], axis=-1)))
    return result


# A fused replica counts as its seed's own run when its outputs are at most this
# fraction of the seed-to-seed distance away from the solo run's (docs/replicas.md).
REPLICA_SOLO_TOLERANCE = 0.1


def replica_solo_gap(fused, solo) -> np.ndarray:
    """How far each fused replica's outputs are from its seed's solo run, as a
    fraction of how far that solo run is from the nearest other seed's.

    ``fused[i]`` and ``solo[i]`` are seed i's outputs on the same held-out
    inputs, shaped ``(K, n, ...)``, from a K-replica fused fit and from K
    fits of one seed each. With ``d(a, b) = max |a - b|``::

        gap[i] = d(fused[i], solo[i]) / min over j != i of d(solo[i], solo[j])

    Floating-point reassociation between fused and solo kernels is amplified
    by training, by an amount that depends on the CPU, the seed and the number
    of steps; measured against the spread between seeds it stays far below
    :data:`REPLICA_SOLO_TOLERANCE` (0.1), while a replica that trains on
    another seed's data order or random stream lands near 1. A zero
    denominator (two seeds with identical outputs) gives 0 where the numerator
    is 0 too, else ``inf``.

    Example:

    >>> solo = np.array([[0.0, 1.0], [0.5, 1.0], [2.0, 2.0]])  # three seeds
    >>> fused = solo + np.array([[1e-6, 0.0], [0.0, -0.25], [0.0, 0.0]])
    >>> replica_solo_gap(fused, solo).round(6).tolist()
    [2e-06, 0.5, 0.0]
    """
    fused = np.asarray(fused, dtype=np.float64)
    solo = np.asarray(solo, dtype=np.float64)
    if fused.shape != solo.shape or fused.ndim < 1 or fused.shape[0] < 2:
        raise ValueError("`fused` and `solo` must have the same shape (K, ...) with K >= 2 "
                         f"seeds; received shapes {fused.shape} and {solo.shape}.")
    k = solo.shape[0]
    flat_solo = solo.reshape(k, -1)
    own = np.abs(fused.reshape(k, -1) - flat_solo).max(axis=1)
    between = np.abs(flat_solo[:, None, :] - flat_solo[None, :, :]).max(axis=2)
    np.fill_diagonal(between, np.inf)
    nearest = between.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(own == 0, 0.0, own / nearest)
