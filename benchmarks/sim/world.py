"""The simulated portfolio: debtors with hidden traits, and what the operation can see of them.

`make_world(n, seed)` is pure and seeded. Everything in `Debtor` beyond `observable()` is the
ground truth the policies (except the oracle) never see: willingness, ability, self-cure,
channel affinities, the hour the debtor is active, tolerance of contact, and which phones
still reach them.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

CHANNELS = ("voice", "ivr", "sms", "whatsapp", "email")
CALLS = ("voice", "ivr")
DIGITAL = ("sms", "whatsapp", "email")


@dataclass(frozen=True)
class Country:
    code: str
    currency: str
    zones: tuple[str, ...]
    networks: tuple[str, ...]
    share: float
    english: float  # share of debtors who write in English
    dial: str


COUNTRIES = (
    Country(
        "MX",
        "MXN",
        ("America/Mexico_City", "America/Monterrey", "America/Tijuana", "America/Cancun"),
        ("telcel", "movistar", "att_mx"),
        0.32,
        0.0,
        "+52",
    ),
    Country("CO", "COP", ("America/Bogota",), ("claro", "movistar", "tigo"), 0.2, 0.0, "+57"),
    Country(
        "US",
        "USD",
        ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"),
        ("verizon", "att", "tmobile"),
        0.16,
        0.7,
        "+1",
    ),
    Country("CL", "CLP", ("America/Santiago",), ("entel", "movistar", "claro"), 0.16, 0.0, "+56"),
    Country("PE", "PEN", ("America/Lima",), ("claro", "movistar", "entel"), 0.16, 0.0, "+51"),
)
BY_CODE = {c.code: c for c in COUNTRIES}
# other portfolios' country shares, for worlds an engine was not tuned on
MIXES = {
    "latam": {c.code: c.share for c in COUNTRIES},
    "us_heavy": {"MX": 0.15, "CO": 0.08, "US": 0.6, "CL": 0.09, "PE": 0.08},
}
# One unit of each currency in MXN: the same rates as the sim config's [money.rates].
RATES = {"MXN": 1.0, "USD": 17.5, "COP": 0.0043, "CLP": 0.019, "PEN": 4.7}


@dataclass(frozen=True)
class Phone:
    id: str
    type: str  # mobile | landline
    address: str
    network: str
    channels: tuple[str, ...]  # consented
    state: str  # ok | wrong (someone else answers) | dead (SIP 404)
    p_right: float  # when someone answers this number, the chance it is the debtor


@dataclass(frozen=True)
class Debtor:
    account_id: str
    country: str
    timezone: str
    currency: str
    language: str  # es | en
    balance: float  # at the start, in `currency`
    dpd: int  # days past due at the start
    product: str
    segment: str
    risk_score: int  # observable, noisy reading of willingness and ability
    willingness: float
    ability: float
    self_cure: float  # daily chance of paying in full with no contact
    affinity: dict[str, float]  # channel -> chance of engaging at the debtor's best hour
    peak_hour: int  # local hour of most activity
    spread: float  # hours
    tolerance: int  # contacts in 7 days before annoyance sets in
    phones: tuple[Phone, ...]
    email: str | None
    email_valid: bool
    email_channels: tuple[str, ...] = field(default=("email",))

    @property
    def balance_base(self) -> float:
        return self.balance * RATES[self.currency]

    def activity(self, local_hour: int) -> float:
        """How likely the debtor is to notice a contact at this local hour, relative to the peak."""
        d = min(abs(local_hour - self.peak_hour), 24 - abs(local_hour - self.peak_hour))
        return 0.12 + 0.88 * math.exp(-(d * d) / (2 * self.spread * self.spread))


def _phone(rng: random.Random, country: Country, account_id: str, i: int, digital_only: bool) -> Phone:
    mobile = i == 0 or rng.random() < 0.6
    state = rng.choices(("ok", "wrong", "dead"), (0.72, 0.14, 0.14) if i else (0.86, 0.07, 0.07))[0]
    if mobile:
        channels = ["voice", "ivr", "sms"]
        if rng.random() < 0.85:
            channels.append("whatsapp")
        if rng.random() < 0.12:  # consented to messages only
            channels = [c for c in channels if c not in CALLS]
    else:
        channels = ["voice", "ivr"]
    return Phone(
        id=f"{'m' if mobile else 'h'}{i + 1}",
        type="mobile" if mobile else "landline",
        address=f"{country.dial}{rng.randrange(10**9, 10**10)}",
        network=rng.choice(country.networks) if mobile else f"{country.networks[0]}_fixed",
        channels=tuple(channels),
        state=state,
        p_right=rng.uniform(0.15, 0.45) if digital_only else rng.uniform(0.55, 0.95),
    )


def make_debtor(rng: random.Random, i: int, response_scale: float = 1.0, mix: str = "latam") -> Debtor:
    """`response_scale` multiplies every channel affinity (capped at 0.9): a portfolio that
    answers half or twice as often; `mix` names the country shares (MIXES)."""
    country = rng.choices(COUNTRIES, [MIXES[mix][c.code] for c in COUNTRIES])[0]
    account_id = f"S-{i:06d}"
    willingness = rng.betavariate(2.0, 2.5)
    ability = rng.betavariate(2.5, 2.0)
    curer = rng.random() < 0.15
    digital_only = rng.random() < 0.45
    favourite = rng.choices(("whatsapp", "sms", "email", "voice"), (0.45, 0.2, 0.15, 0.2))[0]
    if digital_only and favourite == "voice":
        favourite = "whatsapp"
    affinity = {c: rng.uniform(0.02, 0.12) for c in CHANNELS}
    affinity[favourite] = rng.uniform(0.35, 0.7)
    affinity["ivr"] = min(affinity["ivr"], affinity["voice"])
    if digital_only:
        affinity["voice"] = affinity["ivr"] = 0.01
    affinity = {c: min(0.9, a * response_scale) for c, a in affinity.items()}
    balance_mxn = math.exp(rng.gauss(math.log(6000), 0.8))
    noise = rng.gauss(0, 0.15)
    risk = int(300 + 550 * max(0.0, min(1.0, 0.5 * willingness + 0.5 * ability + noise)))
    phones = tuple(_phone(rng, country, account_id, k, digital_only) for k in range(rng.choice((1, 1, 2, 3))))
    has_email = rng.random() < 0.8
    return Debtor(
        account_id=account_id,
        country=country.code,
        timezone=rng.choice(country.zones),
        currency=country.currency,
        language="en" if rng.random() < country.english else "es",
        balance=round(balance_mxn / RATES[country.currency], 2),
        dpd=rng.randint(1, 150),
        product=rng.choice(("credit_card", "personal_loan", "telco")),
        segment=rng.choice(("A", "B", "C")) if not curer else rng.choice(("A", "A", "B")),
        risk_score=risk,
        willingness=willingness,
        ability=ability,
        self_cure=rng.uniform(0.04, 0.12) if curer else rng.uniform(0.0, 0.004),
        affinity=affinity,
        peak_hour=rng.choice((8, 9, 10, 12, 13, 14, 17, 18, 19, 20)),
        spread=rng.uniform(1.2, 3.0),
        tolerance=rng.randint(2, 6),
        phones=phones,
        email=f"{account_id.lower()}@example.com" if has_email else None,
        email_valid=has_email and rng.random() < 0.8,
    )


def make_world(n: int, seed: int, response_scale: float = 1.0, mix: str = "latam") -> list[Debtor]:
    rng = random.Random(seed)
    return [make_debtor(rng, i, response_scale, mix) for i in range(n)]


def observable(d: Debtor, balance: float, dpd: int) -> dict[str, Any]:
    """The account document the operation uploads (`PUT /v1/accounts`): no latent trait."""
    points: list[dict[str, Any]] = [
        {"id": p.id, "type": p.type, "address": p.address, "network": p.network, "channels": list(p.channels)}
        for p in d.phones
    ]
    if d.email:
        points.append({"id": "e1", "type": "email", "address": d.email, "channels": list(d.email_channels)})
    return {
        "account_id": d.account_id,
        "portfolio": "cards" if d.product == "credit_card" else d.product,
        "product": d.product,
        "balance": round(max(0.0, balance), 2),
        "currency": d.currency,
        "days_past_due": dpd,
        "country": d.country,
        "timezone": d.timezone,
        "attributes": {"risk_score": d.risk_score, "segment": d.segment},
        "contact_points": points,
    }
