import math

import pytest

from rnnkit.training import WarmupCosine


def test_warmup_rises_linearly_to_the_peak():
    schedule = WarmupCosine(peak=1e-3, warmup_steps=10, final_ratio=0.1)
    assert [schedule(step, 0.0) for step in range(10)] == pytest.approx([1e-3 * (s + 1) / 10 for s in range(10)])


def test_cosine_decays_from_the_peak_to_the_final_ratio():
    schedule = WarmupCosine(peak=2.0, warmup_steps=0, final_ratio=0.25)
    assert schedule(0, 0.0) == pytest.approx(2.0)
    assert schedule(50, 0.5) == pytest.approx(0.5 + 0.5 * 1.5 * (1 + math.cos(math.pi / 2)))
    assert schedule(100, 1.0) == pytest.approx(0.5)
    values = [schedule(s, s / 100) for s in range(101)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_bad_schedule_settings_name_the_field():
    with pytest.raises(ValueError, match="warmup_steps"):
        WarmupCosine(peak=1.0, warmup_steps=-1)
