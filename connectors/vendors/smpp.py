"""SMPP delivery receipts forwarded over HTTP by an SMS gateway (Kannel, Jasmin).

Sources read:
- SMPP 3.4, appendix B: the receipt text of a deliver_sm is
  `id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD
  err:E text:…`, `stat` one of DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD
  (ENROUTE also seen). Many SMSCs add seconds to the dates (YYMMDDhhmmss); their zone is the
  SMSC's, hence `[webhooks.smpp] timezone` (UTC by default).
- Kannel's user guide: smsbox fetches the `dlr-url` with GET, expanding escape codes in it:
  `%A` is the SMSC's delivery-report reply (the text above), `%d` the DLR type, `%i` the
  smsc-id, `%p`/`%P` the numbers, `%T` the time.
- Jasmin `jasmin/managers/content.py` (`DLRContentForHttpapi`): for messages sent through
  its HTTP API it calls the dlr-url (GET or POST) with `id`, `message_status` (an ESME_*
  code at level 1, from submit_sm_resp; a `stat` value at levels 2 and 3), `level`,
  `id_smsc`, `sub`, `dlvrd`, `subdate`, `donedate`, `err`, `text`.

What cadencia needs beyond the receipt travels in the dlr-url the gateway is given for each
message: `decision_id`, `to` (the recipient's number) and optionally `carrier` (a
`[[carriers]]` id, e.g. Kannel's `%i` when smsc-ids are named after carriers).
The receipt itself comes as the `receipt` parameter (query or form), as a text/plain body,
or as Jasmin's fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, tzinfo

from connectors.vendors import Callback, VendorError

STAT = {
    "DELIVRD": "delivered",
    "ACCEPTD": "sent",
    "ENROUTE": "sent",
    "EXPIRED": "undelivered",
    "UNDELIV": "undelivered",
    "DELETED": "failed",
    "REJECTD": "failed",
}
_FIELD = re.compile(r"(?i)\b(id|sub|dlvrd|submit date|done date|stat|err|text):")


def receipt_fields(text: str) -> dict[str, str]:
    """The `name:value` fields of an SMPP receipt text, names lower-cased (`text` runs to the end)."""
    found = list(_FIELD.finditer(text))
    out: dict[str, str] = {}
    for n, m in enumerate(found):
        end = found[n + 1].start() if n + 1 < len(found) and m.group(1).lower() != "text" else len(text)
        out.setdefault(m.group(1).lower(), text[m.end() : end].strip())
        if m.group(1).lower() == "text":
            break
    return out


def smpp_time(value: str, zone: tzinfo, field: str) -> datetime:
    digits = value.strip()
    try:
        if len(digits) == 10:
            parsed = datetime.strptime(digits, "%y%m%d%H%M")
        elif len(digits) == 12:
            parsed = datetime.strptime(digits, "%y%m%d%H%M%S")
        else:
            raise ValueError
    except ValueError as exc:
        raise VendorError(field, f"not YYMMDDhhmm[ss]: {value!r}") from exc
    return parsed.replace(tzinfo=zone)


def parse(params: Mapping[str, str], body: str | None, zone: tzinfo) -> list[Callback]:
    receipt = params.get("receipt") or (body or "").strip()
    if receipt:
        fields = receipt_fields(receipt)
        ident, stat, err = fields.get("id"), fields.get("stat"), fields.get("err")
        done, where = fields.get("done date"), "receipt"
        if not ident:
            raise VendorError("receipt", "no `id:` field in the receipt text")
        if not stat:
            raise VendorError("receipt", "no `stat:` field in the receipt text")
    elif params.get("message_status"):  # Jasmin's HTTP DLR
        ident, stat, err = params.get("id"), params["message_status"], params.get("err")
        done, where = params.get("donedate"), "donedate"
        if not ident:
            raise VendorError("id", "missing")
    else:
        raise VendorError("receipt", "missing: send the receipt text (or Jasmin's DLR fields)")
    stat = stat.upper()
    if stat.startswith("ESME_"):  # Jasmin level 1: the SMSC's answer to submit_sm
        status = "sent" if stat == "ESME_ROK" else "failed"
        error = None if stat == "ESME_ROK" else stat
        done = None
    else:
        mapped = STAT.get(stat)
        if mapped is None:  # UNKNOWN: the SMSC cannot say
            return []
        status = mapped
        error = err if err and err.strip("0") and status != "delivered" else None
    return [
        Callback(
            f"smpp:{ident}:{stat}",
            "message",
            smpp_time(done, zone, where) if done else None,
            params.get("to") or None,
            params.get("decision_id") or None,
            params.get("channel") or None,
            params.get("carrier") or None,
            status=status,
            error_code=error,
        )
    ]
