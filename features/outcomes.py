"""What an event means for learning: was the contact answered, by whom, did it pay."""

from __future__ import annotations

from dataclasses import dataclass

from features.pickling import fast_pickling
from features.records import Event

# SIP answers that say the number itself is bad (not a passing network failure).
DEAD_NUMBER_SIP = frozenset({404, 410, 484, 604})
TERMINAL_MESSAGE = frozenset({"read", "failed", "undelivered"})
# Replies that opt the debtor out (the TCPA's keywords), applied everywhere: erring towards
# not contacting someone who asked to stop is the safe side.
OPTOUT_WORDS = frozenset({"STOP", "UNSUBSCRIBE", "END", "QUIT", "CANCEL"})


def is_optout_reply(event: Event) -> bool:
    if event.type != "reply" or not event.text:
        return False
    return event.text.strip().strip(".!").upper() in OPTOUT_WORDS or event.intent == "optout"


# What a debtor in hardship writes, in the operation's languages (Spanish and English). A
# gateway's own classifier may send `intent` instead; it wins.
HARDSHIP_WORDS = (
    "no tengo trabajo",
    "sin trabajo",
    "desemplead",
    "me despidieron",
    "no tengo dinero",
    "no puedo pagar",
    "enferm",
    "hospital",
    "lost my job",
    "unemployed",
    "laid off",
    "can't pay",
    "cannot pay",
    "medical",
)


def reply_intent(event: Event) -> str | None:
    """The intent of a reply: the gateway's `intent`, else `hardship` when the text says so."""
    if event.type != "reply":
        return None
    if event.intent:
        return event.intent
    text = (event.text or "").lower()
    return "hardship" if any(w in text for w in HARDSHIP_WORDS) else None


@dataclass(frozen=True, slots=True)
class Outcome:
    attempt: bool = False  # a contact attempt that no decision of ours announced
    response: bool = False  # the debtor engaged: read, replied, answered in person
    right_party: bool = False
    delivery_failed: bool = False  # undelivered message, dead or wrong number
    pay: bool = False  # promise to pay or payment
    terminal: bool = False  # the contact this answers is over: release its lock


def classify(event: Event) -> Outcome:
    t, status = event.type, event.status
    if t == "message":
        return Outcome(
            attempt=status == "sent" and event.decision_id is None,
            response=status == "read",
            delivery_failed=status in ("failed", "undelivered"),
            terminal=status in TERMINAL_MESSAGE,
        )
    if t == "call":
        rpc = status == "answered" and event.party == "right_party"
        wrong = event.party == "third_party" or (event.sip_code in DEAD_NUMBER_SIP)
        return Outcome(
            attempt=event.decision_id is None,
            response=rpc,
            right_party=rpc,
            delivery_failed=wrong,
            terminal=True,
        )
    if t == "reply":
        # an opt-out reply ends the contact but is not the engagement the models learn to seek
        return Outcome(response=not is_optout_reply(event), terminal=True)
    if t in ("promise", "payment"):
        return Outcome(response=True, pay=True, terminal=True)
    # optout, dispute: the debtor engaged, but not in a way to learn to seek.
    return Outcome(terminal=True)


fast_pickling(Outcome)
