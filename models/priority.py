"""A debtor's place in a call campaign's queue: the expected value of a call, pure.

The queue only has to put the right few dozen accounts at the top: `dialer/next` re-scores
those few at the current local hour with the full decision path. So the priority is the
value of a call at the debtor's best calling hour: max over hours and over the debtor's
numbers on the channel of P(response) × P(pay | response), times what a payment brings,
minus the call's cost; raised when a digital contact has just failed, so the call centre
follows a failed message at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.contact import CHANNEL_INDEX, Scorer

CALLING_HOURS = np.arange(8, 21)  # local hours a call can take place somewhere (08:00-20:59)


def call_priority(
    scorer: Scorer,
    channel: str,
    numbers: Sequence[tuple[tuple[str, ...], dict[str, float]]],
    affinity: Sequence[float],
    payment_value: float,
    cost: float,
    boost: float = 0.0,
) -> float | None:
    """`numbers`: each number's indicator keys and numeric inputs (models.candidates);
    `affinity`: the debtor's 24 hour affinities. None when the debtor has no number for it."""
    if not numbers:
        return None
    ci = CHANNEL_INDEX[channel]
    hour_terms = (
        scorer.head_terms[:, ci, CALLING_HOURS]
        + scorer.affinity_weights[:, 0, :] * np.asarray(affinity)[CALLING_HOURS]
    )
    best = 0.0
    for keys, numeric in numbers:
        (r1, p1), (r2, p2) = scorer.onehot_dots(keys), scorer.dots(numeric)
        logits = hour_terms + np.array([[r1 + r2], [p1 + p2]])
        p = 1.0 / (1.0 + np.exp(-logits))
        best = max(best, float(np.max(p[0] * p[1])))
    return best * payment_value * (1.0 + boost) - cost
