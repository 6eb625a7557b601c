"""Learning-rate schedules: linear warm-up, then cosine decay over the run's planned budget.

    lr(s) = lr_max · s / W                                        for step s < W  (warm-up)
    lr(s) = lr_min + ½ (lr_max − lr_min) (1 + cos(π · p))         after, p ∈ [0, 1] the progress

The progress p is the fraction of the budget spent: steps done / planned steps, or seconds spent /
planned seconds for a time budget. The schedule is a pure function of (step, progress): a resumed
run that restores its step (and time spent) continues the same curve. A constant learning rate
after the warm-up is the same curve with lr_min = lr_max (``final_ratio=1``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class WarmupCosine:
    """Linear warm-up to ``peak`` over ``warmup_steps``, then cosine decay to ``peak · final_ratio``."""

    peak: float                  # learning rate at the end of the warm-up
    warmup_steps: int = 100      # steps of linear warm-up from 0
    final_ratio: float = 0.1     # learning rate at the end of the budget, as a fraction of the peak

    def __post_init__(self) -> None:
        if not self.peak > 0:
            raise ValueError(f"peak (the learning rate) must be positive, got {self.peak!r}")
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be a non-negative integer, got {self.warmup_steps!r}")
        if not 0.0 <= self.final_ratio <= 1.0:
            raise ValueError(f"final_ratio must be in [0, 1], got {self.final_ratio!r}")

    def __call__(self, step: int, progress: float) -> float:
        """The learning rate of step ``step`` (0-based) at ``progress`` ∈ [0, 1] of the budget."""
        if step < self.warmup_steps:
            return self.peak * (step + 1) / self.warmup_steps
        low = self.peak * self.final_ratio
        progress = min(max(progress, 0.0), 1.0)
        return low + 0.5 * (self.peak - low) * (1.0 + math.cos(math.pi * progress))
