"""The random-policy baseline: what a policy that learned nothing scores, uncorrelated with the env's draws."""

from __future__ import annotations

import pytest

from rnnppo.core.analysis.baseline import random_policy_returns
from rnnppo.core.config import build_config


@pytest.mark.parametrize(("delay", "chance"), [(1, 24.5), (8, 21.0)])
def test_random_actions_on_repeat_previous_score_chance(delay, chance):
    # Half of the 50 - delay scored steps right. Actions drawn from the env's own seed copied its symbols
    # (the baseline read 39.6 and 33.8).
    measured = random_policy_returns(build_config({"env": "rnnppo/RepeatPrevious-v0", "env_kwargs": {"delay": delay}}))
    assert measured["episodes"] == 100
    assert abs(measured["mean_return"] - chance) < 4 * measured["sem_return"]
