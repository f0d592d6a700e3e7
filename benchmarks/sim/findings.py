"""Sentences for the report drawn from the measured figures: where cadencia loses, and the
behaviours of the engine the run exposed. Computed, so a rerun that changes them changes them."""

from __future__ import annotations

from typing import Any

from benchmarks.sim.report import carrier_share


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
    during = carrier_share(c["carrier_hours"], o["start_h"], o["end_h"]).get(o["carrier"], 0.0)
    if during > 0.05:
        out.append(
            f"During {o['carrier']}'s outage {100 * during:.0f}% of cadencia's calls still went to it "
            "(every one failed with SIP 503): carrier choice is still the static least-cost route "
            "(`carrier=least_cost`), the learned router of issue 4 is not in yet."
        )
    answers = doc.get("cadencia_latency", {}).get("answers", {})
    paid = sum(
        n for k, n in answers.items() if k.startswith("wait:") and "paid" in k.split(":")[1].split(",")
    )
    if paid:
        out.append(
            f"{paid:,} decisions answered `wait: paid` for accounts that still owed money (the sim only "
            "asks for accounts with a positive balance): the engine compares all payments ever received "
            "with the balance in the latest upload, so once an operation re-uploads the outstanding "
            "balance after partial payments worth half of it, the account is treated as paid off."
        )
    n = c.get("audit_notes", {}).get("co_direct_contact_week after an opt-out reply only", 0)
    if n:
        out.append(
            f"{n} CO contacts on another channel in the same calendar week after the debtor's only direct "
            'contact that week was an opt-out reply ("STOP", "no me escriban más"): the engine does '
            "not record an opt-out reply as a direct contact (`policy/binding.py` returns before the "
            "`direct` op), while issue 5 counts any reply."
        )
    return out
