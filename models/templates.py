"""Template choice per channel and DPD bucket as a Beta-Bernoulli bandit (Thompson sampling)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


class TemplateBandit:
    """River-style: `learn_one(x, y)` with x = {"channel", "dpd_bucket", "template"}."""

    def __init__(self, prior_successes: float = 1.0, prior_failures: float = 9.0) -> None:
        self.prior_successes = prior_successes
        self.prior_failures = prior_failures
        self._counts: dict[tuple[str, str, str], tuple[float, float]] = {}

    @staticmethod
    def _key(x: dict[str, Any]) -> tuple[str, str, str]:
        return (str(x.get("channel", "")), str(x.get("dpd_bucket", "")), str(x.get("template", "")))

    def learn_one(self, x: dict[str, Any], y: bool) -> None:
        s, f = self._counts.get(self._key(x), (0.0, 0.0))
        self._counts[self._key(x)] = (s + 1.0, f) if y else (s, f + 1.0)

    def posterior(self, x: dict[str, Any]) -> tuple[float, float]:
        s, f = self._counts.get(self._key(x), (0.0, 0.0))
        return s + self.prior_successes, f + self.prior_failures

    def predict_proba_one(self, x: dict[str, Any]) -> dict[bool, float]:
        a, b = self.posterior(x)
        p = a / (a + b)
        return {False: 1.0 - p, True: p}

    def to_data(self) -> list[list[Any]]:
        return [[c, b, t, s, f] for (c, b, t), (s, f) in sorted(self._counts.items())]

    @classmethod
    def from_data(cls, rows: list[list[Any]], prior_successes: float = 1.0, prior_failures: float = 9.0):
        bandit = cls(prior_successes, prior_failures)
        bandit._counts = {(str(c), str(b), str(t)): (float(s), float(f)) for c, b, t, s, f in rows}
        return bandit

    def choose(
        self, channel: str, bucket: str, templates: Sequence[str], z: Sequence[float]
    ) -> tuple[str, float]:
        """Thompson sampling over `templates` with one standard normal per template in `z`:
        each posterior is drawn through its normal approximation (mean + sd * z)."""
        best, best_draw = templates[0], -math.inf
        for template, noise in zip(templates, z, strict=True):
            a, b = self.posterior({"channel": channel, "dpd_bucket": bucket, "template": template})
            n = a + b
            draw = a / n + math.sqrt(a * b / (n * n * (n + 1.0))) * float(noise)
            if draw > best_draw:
                best, best_draw = template, draw
        return best, best_draw

    def choices(self, channel: str, bucket: str, templates: Sequence[str], z: np.ndarray) -> list[str]:
        """`choose` for each row of `z` (draws × templates) at once."""
        a, b = np.array(
            [self.posterior({"channel": channel, "dpd_bucket": bucket, "template": t}) for t in templates]
        ).T
        n = a + b
        drawn = a / n + np.sqrt(a * b / (n * n * (n + 1.0))) * z
        return [templates[i] for i in drawn.argmax(axis=1)]
