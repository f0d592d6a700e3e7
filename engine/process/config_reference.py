"""docs/configuration.md, generated from the typed settings: every key of every section with
its type, default and the comment it carries in the source (one place to keep true).

`python -m engine.process.config_reference > docs/configuration.md`; a unit test fails when the file
and the settings disagree."""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
import typing
from typing import Any

from engine import settings as S
from engine.gateways.webhooks import KEYS
from models.carriers import RouterConfig
from policy.caps import Caps
from policy.journeys import Journey

SECTIONS: tuple[tuple[str, type, str], ...] = (
    ("[server]", S.ServerSettings, "The HTTP server, its limits and whose clock counts."),
    ("[redis]", S.RedisSettings, "Where the data lives and how long it is kept (retention)."),
    ("[money]", S.MoneySettings, "The base currency values are expressed in; `[money.rates]` maps "
     "another currency to it (`COP = 0.0043`)."),
    ("[[carriers]]", S.CarrierSettings, "Outbound carriers for calls and SMS, one table each."),
    ("[channels.<name>]", S.ChannelSettings, "Each channel's own cost (voice, ivr, sms, whatsapp, email)."),
    ("[[templates]]", S.TemplateSettings, "Messages the models choose between, per channel and DPD range."),
    ("[decisions]", S.DecisionSettings, "Reservation, attribution and exploration."),
    ("[flow]", S.FlowSettings, "The dataflow: features, learning, publishing, recovery."),
    ("[routing]", RouterConfig, "Carrier routing: learning per network and hour band, breakers, probes."),
    ("[policy.caps]", Caps, "The operation's own caps on top of the law's rules (0: no cap); a country's "
     "table, `[policy.caps.MX]`, replaces them for its accounts."),
    ("[[journeys]]", Journey, "The operation's strategy per segment (`policy/journeys.py`); the first "
     "that matches an account applies."),
)
SKIP = {"name", "by_country"}  # filled in by the loader, not written in the file

TAIL = """\
## Other sections

- `[policy.dispute] hold_days`: how long a dispute holds contact (days); absent, until the
  dispute is resolved.
- `[auth.tokens]`: `"token" = "role"`, roles `reader`, `dialer`, `gateway`, `admin`; tokens and
  roles may be `${ENV_VAR}`. No tokens: auth is off (and `cadencia run` refuses a non-loopback
  `--host` unless `--insecure`).
- `[webhooks.<vendor>]`: a vendor's signing secret and options, values may be `${ENV_VAR}`
  (the README's gateway section says what each does):
{webhooks}

Every key is checked by type and range when the file is read; a wrong one stops the start with
the section and key named. Unknown sections and keys are refused.
"""


def _comments(cls: type) -> dict[str, str]:
    """Each field's comment in the class source: the line's own, else the lines just above."""
    lines = inspect.getsource(cls).splitlines()
    out: dict[str, str] = {}
    above: list[str] = []
    for line in lines[1:]:
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("# ").rstrip())
            continue
        m = re.match(r"\s+(\w+): [^=]+?(?:=.*?)?(?:\s+#\s*(?P<c>.*))?$", line)
        if m and not stripped.startswith(("def ", "@", '"""')):
            own = (m.group("c") or "").strip()
            out[m.group(1)] = " ".join([*above, own]).strip()
        above = []
    return out


def _type(t: Any) -> str:
    if typing.get_origin(t) is typing.Annotated:
        base, *meta = typing.get_args(t)
        bounds = [
            f"{op} {getattr(m, attr)}"
            for m in meta
            for attr, op in (("gt", ">"), ("ge", ">="), ("le", "<="), ("lt", "<"), ("max_length", "len <="))
            if getattr(m, attr, None) is not None
        ]
        return _type(base) + (f" ({', '.join(bounds)})" if bounds else "")
    args = typing.get_args(t)
    if type(None) in args:
        return " or ".join(_type(a) for a in args if a is not type(None)) + " (optional)"
    if typing.get_origin(t) in (tuple, list):
        return f"list of {_type(args[0])}" if args else "list"
    if typing.get_origin(t) is not None and args:
        return f"table of {_type(args[-1])}"
    return getattr(t, "__name__", str(t))


def _default(f: dataclasses.Field[Any]) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "required"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, tuple | list):
        return "`[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in value) + "]`"
    if isinstance(value, dict):
        return "`{}`" if not value else f"`{value}`"
    return f"`{value:_}`" if isinstance(value, int) else f"`{value:g}`"  # TOML takes 1_000


def section(title: str, cls: type, about: str) -> str:
    hints = typing.get_type_hints(cls, include_extras=True)
    notes = _comments(cls)
    rows = [
        f"| `{f.name}` | {_type(hints[f.name])} | {_default(f)} | {notes.get(f.name, '')} |"
        for f in dataclasses.fields(cls)
        if f.name not in SKIP
    ]
    head = ["| key | type | default | meaning |", "|---|---|---|---|"]
    return "\n".join([f"## `{title}`", "", about, "", *head, *rows, ""])


def reference() -> str:
    head = (
        "# Configuration reference\n\n"
        "One TOML file configures cadencia (`cadencia run --config FILE`); `engine/demo.toml` and\n"
        "`examples/journeys.toml` run as they are. Generated from the typed settings by\n"
        "`python -m engine.process.config_reference`; the comments are the source's.\n"
    )
    vendors = "\n".join(
        f"  - `[webhooks.{v}]`: " + ", ".join(f"`{k}`" for k in keys) for v, keys in KEYS.items()
    )
    return "\n".join([head, *(section(*s) for s in SECTIONS), TAIL.replace("{webhooks}", vendors)])


if __name__ == "__main__":
    sys.stdout.write(reference())
