"""The discrete path's numbers are pinned: continuous-control settings must not move a discrete run.

The expected values were recorded with the code before the continuous settings (reward scaling,
free_log_std) existed; same seed, same config -> the same losses, returns and weights (to the
tolerances measured across CPU kernels in pinned_tolerance.py; exactly on one machine).
"""

from __future__ import annotations

import pytest

from rnnppo.core.config import build_config
from rnnppo.core.runs.trainer import train

from .pinned_tolerance import close

TINY = {
    "num_envs": 4,
    "rollout_len": 32,
    "total_steps": 256,
    "lstm_cell_size": 8,
    "fcnet_hiddens": (8,),
    "minibatch_size": 32,
    "max_seq_len": 8,
    "num_epochs": 2,
    "eval_episodes": 2,
    "lstm_use_prev_action": True,
    "lstm_use_prev_reward": True,
}

# (policy_loss, value_loss, episode_return_mean) per iteration, evaluation returns, sum of all weights
PINNED = {
    "rnnppo/StatelessCartPole-v0": (
        [
            (-3.9441511034965515e-05, 14.888742685317993, 19.666666666666668),
            (-0.02111927792429924, 13.384227395057678, 24.857142857142858),
        ],
        [8.0, 9.0],
        2.269061657052589,
    ),
    "rnnppo/RepeatPrevious-v0": (
        [(-0.00045360252261161804, 4.535660445690155, None), (0.0018586143851280212, 3.468331426382065, 23.25)],
        [27.0, 36.0],
        2.3207270961866016,
    ),
}


@pytest.mark.parametrize("env_id", list(PINNED))
def test_a_discrete_run_gives_the_same_numbers_as_before_the_continuous_settings(env_id):
    result = train(build_config({"env": env_id, **TINY}))
    per_iteration, eval_returns, weight_sum = PINNED[env_id]
    for row, (policy_loss, value_loss, episode_return) in zip(result.metrics, per_iteration, strict=True):
        assert row["policy_loss"] == close("policy_loss", policy_loss)
        assert row["value_loss"] == close("value_loss", value_loss)
        if episode_return is None:
            assert row["episodes"] == 0
        else:
            assert row["episode_return_mean"] == pytest.approx(episode_return)
    assert result.summary["eval_returns"] == eval_returns
    total = float(sum(p.detach().double().sum() for p in result.policy.parameters()))
    assert total == close("weights", weight_sum)
    assert "ret_var" not in result.policy.state_dict()  # no reward-scaling statistics on a discrete run
