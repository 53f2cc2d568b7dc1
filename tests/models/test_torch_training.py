"""The shared torch loop's progress: with a time budget the bar's total is the epochs the
budget allows at the pace so far, not the maximum (an honest ETA)."""

from __future__ import annotations

from trustrec.models.torch_training import expected_epochs


def test_expected_epochs_follow_the_time_budget() -> None:
    assert expected_epochs(200, 0, 0.0, 60.0) == 200  # nothing measured yet
    assert expected_epochs(200, 2, 10.0, None) == 200  # no budget: the maximum
    assert expected_epochs(200, 2, 10.0, 60.0) == 12  # 5 s/epoch, 50 s left → 10 more
    assert expected_epochs(8, 2, 10.0, 60.0) == 8  # the maximum comes first
    assert expected_epochs(200, 5, 70.0, 60.0) == 5  # over budget: this was the last
