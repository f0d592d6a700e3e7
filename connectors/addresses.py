"""Contact addresses in one canonical form, so that what a vendor reports (`whatsapp:+52…`,
`5213312345678`, `Ana@Example.com`) finds the account that was uploaded with it.

Phone numbers: E.164 digits with a leading `+` (an international `00` prefix becomes `+`;
digits without a prefix are taken to include the country code, as WhatsApp, Vonage and
Infobip send them). Mexican mobiles keep one form: the `1` that WhatsApp still puts after
`+52` (`+521` + 10 digits) is dropped, as Mexico's numbering plan did in 2019.
E-mail addresses: trimmed and lower-cased.
"""

from __future__ import annotations

import re

import orjson

_NOT_DIGIT = re.compile(r"\D")
_PREFIX = re.compile(r"^[a-z][a-z0-9+.-]*:(?!//)", re.IGNORECASE)  # whatsapp:, tel:, sip:, rcs:


def normalise(address: str) -> str | None:
    """The canonical form of a phone number or e-mail address; None when it is neither."""
    value = address.strip()
    if not value:
        return None
    if "@" in value:
        if value.lower().startswith("mailto:"):
            value = value[7:]
        return value.lower()
    value = _PREFIX.sub("", value, count=1)
    if value.startswith("00"):
        value = value[2:]
    digits = _NOT_DIGIT.sub("", value)
    if not 6 <= len(digits) <= 15:
        return None
    if digits.startswith("521") and len(digits) == 13:
        digits = "52" + digits[3:]
    return "+" + digits


def is_email(address: str) -> bool:
    return "@" in address


def of_document(doc: bytes) -> list[str]:
    """The normalised addresses of an account document's contact points, each once, in order."""
    try:
        points = orjson.loads(doc).get("contact_points") or []
    except (orjson.JSONDecodeError, AttributeError):
        return []
    found = (normalise(str(p.get("address", ""))) for p in points if isinstance(p, dict))
    return list(dict.fromkeys(a for a in found if a))
