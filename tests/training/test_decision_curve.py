"""Net benefit against a hand-worked case and the treat-all identity."""

import numpy as np
import pytest

from training.decision_curve import net_benefit


def test_net_benefit_hand_case_and_treat_all() -> None:
    y = np.array([1, 1, 0, 0, 0])
    p = np.array([0.9, 0.15, 0.5, 0.05, 0.25])
    curve = net_benefit(y, p, [0.1, 0.2, 0.6])
    # pt 0.1: positives 0.9, 0.15, 0.5, 0.25 -> TP 2, FP 2; 2/5 - 2/5 * (1/9).
    # pt 0.2: 0.9, 0.5, 0.25 -> TP 1, FP 2; 1/5 - 2/5 * 0.25.  pt 0.6: 0.9 -> TP 1, FP 0.
    np.testing.assert_allclose(curve.model, [0.4 - 0.4 / 9, 0.2 - 0.1, 0.2])
    prevalence = 0.4
    odds = np.array([0.1, 0.2, 0.6]) / np.array([0.9, 0.8, 0.4])
    np.testing.assert_allclose(curve.treat_all, prevalence - (1 - prevalence) * odds)
    # Treating everyone is what a model predicting 1 for all does.
    everyone = net_benefit(y, np.ones(5), [0.1, 0.2, 0.6])
    np.testing.assert_allclose(everyone.model, everyone.treat_all)


def test_a_case_at_the_threshold_counts_as_positive() -> None:
    # p == pt: acted on. One event at 0.3, one non-event at 0.3: 1/2 - 1/2 * (0.3 / 0.7).
    curve = net_benefit([1, 0], [0.3, 0.3], [0.3])
    assert curve.model[0] == pytest.approx(0.5 - 0.5 * 0.3 / 0.7)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="strictly between"):
        net_benefit([0, 1], [0.2, 0.8], [0.0])
    with pytest.raises(ValueError, match="same length"):
        net_benefit([0, 1], [0.2], [0.1])
