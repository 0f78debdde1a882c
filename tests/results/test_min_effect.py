"""--min-effect D: the smallest score difference worth detecting, checked where it enters (sweep options)
and carried in the study's spec for the report."""

from __future__ import annotations

import math

import pytest

from rnnppo.errors import SweepError
from rnnppo.sweeps.spec import SweepRequest, build_spec


@pytest.mark.parametrize("bad", [0.0, -0.1, math.nan, math.inf])
def test_a_min_effect_that_is_not_a_positive_number_is_refused_naming_the_fix(bad, tmp_path):
    with pytest.raises(SweepError, match="--min-effect .* must be a positive number in score units"):
        build_spec(["seq_len=2,4"], SweepRequest(env="rnnppo/CueRecall-v0", out=tmp_path, min_effect=bad))


def test_the_min_effect_is_stored_in_the_studys_spec_only_when_given(tmp_path):
    given = build_spec(["seq_len=2,4"], SweepRequest(env="rnnppo/CueRecall-v0", out=tmp_path, min_effect=0.05))
    assert given.stored_spec()["min_effect"] == 0.05
    default = build_spec(["seq_len=2,4"], SweepRequest(env="rnnppo/CueRecall-v0", out=tmp_path))
    assert "min_effect" not in default.stored_spec()  # older studies and resumed ones keep the same spec
