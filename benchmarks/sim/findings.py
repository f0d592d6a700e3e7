"""Sentences for the report drawn from the measured figures: where cadencia loses, and the
behaviours of the engine the run exposed. Computed, so a rerun that changes them changes them."""

from __future__ import annotations

from typing import Any


def notes(doc: dict[str, Any]) -> list[str]:
    pol = doc["policies"]
    c = pol.get("cadencia")
    if c is None:
        return []
    out = []
    for other in ("static", "random", "vw", "oracle"):
        if other in pol and pol[other]["net"] > c["net"]:
            gap = pol[other]["net"] - c["net"]
            out.append(
                f"cadencia's net is below {other}'s by {gap:,.0f} ({100 * gap / pol[other]['net']:.1f}%)."
            )
    for other in ("static", "vw"):
        if other in pol and (pol[other]["asr"] or 0) > (c["asr"] or 0):
            out.append(
                f"cadencia's ASR ({100 * (c['asr'] or 0):.1f}%) is below {other}'s "
                f"({100 * pol[other]['asr']:.1f}%)."
            )
    o = doc["setup"]["outage"]
    share = c.get("outage_share_after_10min")
    if share is not None and share > 0.05:
        out.append(
            f"From 10 minutes into {o['carrier']}'s outage to its end, {100 * share:.1f}% of cadencia's "
            "calls still went to it (issue 4 asks for under 5%)."
        )
    ratio = c.get("asr_vs_best")
    if ratio is not None and ratio < 0.9:
        out.append(
            f"cadencia's carriers answer at {ratio:.3f} of the best carrier's rate for the same calls "
            "(issue 4 asks for within 10%)."
        )
    answers = doc.get("cadencia_latency", {}).get("answers", {})
    paid = sum(
        n for k, n in answers.items() if k.startswith("wait:") and "paid" in k.split(":")[1].split(",")
    )
    if paid:
        out.append(
            f"{paid:,} decisions answered `wait: paid` for accounts the world says still owe money."
        )
    n = c.get("audit_notes", {}).get("co_direct_contact_week after an opt-out reply only", 0)
    if n:
        out.append(
            f"{n} CO contacts on another channel in the same calendar week after the debtor's only direct "
            "contact that week was an opt-out reply."
        )
    return out
