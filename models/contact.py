"""The contact models: two logistic heads learned online, and a frozen scorer for serving.

`response`: the chance a contact on channel c, at local hour h, through contact point p gets
the debtor to engage. `pay`: given a response, the chance it brings a promise or a payment. Both are River
`LogisticRegression`s over the inputs of `models.candidates`. The dataflow owns the learning
copy; API processes load the published data (`to_data`: plain data, never a pickle: nothing
read from Redis is code) and score with `Scorer`, a snapshot of weights (no River call on the
hot path, and nothing a request could mutate).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
from river import linear_model, optim

from models.attribution import Example
from models.candidates import RECENT_SCALE
from models.carriers import CarrierRouter, Observation, RouterConfig
from models.templates import TemplateBandit

HEAD_PRIORS = {"response": 0.10, "pay": 0.20}

# Informative starting weights on the debtor's own history, so that history counts from the
# first decision (a zero weight could only grow from decisions already made with history).
# Learning moves them like any other weight.
PRIOR_WEIGHTS = {
    "acct_resp": 4.0,
    "acct_pay": 4.0,
    "acct_hour": 0.2,
    "pt_rpc": 2.0,
    "pt_rpc_hour": 2.0,
    "pt_fail": -2.0,
}


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def cell(channel: str, hour: int) -> str:
    return f"{channel}|{hour}"


CHANNELS = ("voice", "ivr", "sms", "whatsapp", "email")
CHANNEL_INDEX = {c: i for i, c in enumerate(CHANNELS)}

OPTOUT_PRIOR = (0.005, 200.0)  # the portfolio's opt-out (or dispute) rate a contact, and its weight
OPTOUT_CELL_WEIGHT = 20.0  # contacts a (channel, recent contacts) cell borrows of its channel's rate
RECENT_CELLS = 8  # recent-contact counts learned apart: 0, 1, ..., 8 and more


class OptoutRisk:
    """P(an opt-out or a dispute follows a contact) by channel and by how many contacts the
    account had lately (fatigue): each cell a Beta posterior shrunk toward its channel's, the
    channel's toward the portfolio's. Learned from every contact whose window closed."""

    def __init__(self, cells: dict[tuple[str, int], list[float]] | None = None) -> None:
        self.cells: dict[tuple[str, int], list[float]] = cells or {}  # -> [contacts, lost]

    @staticmethod
    def cell_of(recent: float) -> int:
        return min(RECENT_CELLS, int(recent + 0.5))

    def learn(self, channel: str, recent: float, lost: bool) -> None:
        for key in ((channel, self.cell_of(recent)), (channel, -1)):
            c = self.cells.setdefault(key, [0.0, 0.0])
            c[0] += 1
            c[1] += lost

    def risk(self, channel: str, recent: float) -> float:
        rate, weight = OPTOUT_PRIOR
        n, y = self.cells.get((channel, -1), (0.0, 0.0))
        channel_rate = (y + rate * weight) / (n + weight)
        n, y = self.cells.get((channel, self.cell_of(recent)), (0.0, 0.0))
        return (y + channel_rate * OPTOUT_CELL_WEIGHT) / (n + OPTOUT_CELL_WEIGHT)

    def to_data(self) -> list[list[Any]]:
        return [[c, k, n, y] for (c, k), (n, y) in sorted(self.cells.items())]

    @classmethod
    def from_data(cls, rows: list[list[Any]]) -> OptoutRisk:
        return cls({(str(c), int(k)): [float(n), float(y)] for c, k, n, y in rows})


class ContactModels:
    def __init__(
        self, learning_rate: float = 0.05, l2: float = 1e-5, routing: RouterConfig | None = None
    ) -> None:
        self.learning_rate = learning_rate
        self.l2 = l2
        self.heads = {
            head: linear_model.LogisticRegression(
                optimizer=optim.SGD(learning_rate),
                l2=l2,
                intercept_init=logit(prior),
                intercept_lr=learning_rate,
            )
            for head, prior in HEAD_PRIORS.items()
        }
        for head in self.heads.values():
            for feature, weight in PRIOR_WEIGHTS.items():
                head._weights[feature] = weight  # River exposes no per-feature initialiser
        self.templates = TemplateBandit()
        self.optout = OptoutRisk()
        self.cells: dict[str, int] = {}  # examples seen per channel and hour (response head)
        self.updates = 0
        self.router = CarrierRouter(routing or RouterConfig())

    def learn_carrier(self, observation: Observation) -> bool:
        """Learn one carrier outcome; True when a breaker opened or closed."""
        return self.router.observe(observation)

    def learn(self, example: Example) -> None:
        if example.head == "optout":
            recent = example.x.get("recent", 0.0) * RECENT_SCALE
            self.optout.learn(example.channel, recent, example.y)
            self.updates += 1
            return
        self.heads[example.head].learn_one(example.x, example.y)
        if example.head == "response":
            key = cell(example.channel, example.hour)
            self.cells[key] = self.cells.get(key, 0) + 1
            if example.template:
                self.templates.learn_one(
                    {
                        "channel": example.channel,
                        "dpd_bucket": example.dpd_bucket,
                        "template": example.template,
                    },
                    example.y,
                )
        self.updates += 1

    def to_data(self) -> dict[str, Any]:
        """What serving needs, as plain data (no code: API processes load it from Redis)."""
        return {
            "format": DATA_FORMAT,
            "heads": {
                h: {"weights": dict(m.weights), "intercept": float(m.intercept)}
                for h, m in self.heads.items()
            },
            "cells": dict(self.cells),
            "templates": self.templates.to_data(),
            "templates_prior": [self.templates.prior_successes, self.templates.prior_failures],
            "router": self.router.to_data(),
            "optout": self.optout.to_data(),
            "updates": self.updates,
        }

    def scorer(self, version: str) -> Scorer:
        return scorer_from_data(self.to_data(), version, self.router.config)


DATA_FORMAT = 1


def dumps_data(data: dict[str, Any]) -> bytes:
    return zlib.compress(msgspec.msgpack.encode(data), 6)


def loads_data(blob: bytes) -> dict[str, Any]:
    data = msgspec.msgpack.decode(zlib.decompress(blob))
    if not isinstance(data, dict) or data.get("format") != DATA_FORMAT:
        raise ValueError("not a cadencia model (format 1)")
    return data


def scorer_from_data(data: dict[str, Any], version: str, routing: RouterConfig | None = None) -> Scorer:
    """A serving snapshot of published model data."""
    weights = {h: dict(v["weights"]) for h, v in data["heads"].items()}
    intercepts = {h: float(v["intercept"]) for h, v in data["heads"].items()}
    cells = {str(k): int(v) for k, v in data["cells"].items()}
    hour_weights = {
        h: np.array([[w.get(f"ch={c}|h={hour}", 0.0) for hour in range(24)] for c in CHANNELS])
        for h, w in weights.items()
    }
    evidence = np.array([[cells.get(cell(c, hour), 0) for hour in range(24)] for c in CHANNELS], dtype=float)
    heads = ("response", "pay")  # the order of the stacked arrays below
    prior_s, prior_f = data["templates_prior"]
    return Scorer(
        head_terms=np.stack([hour_weights[h] + intercepts[h] for h in heads]),
        affinity_weights=np.array([weights[h].get("acct_hour", 0.0) for h in heads])[:, None, None],
        point_hour_weights=np.array([weights[h].get("pt_rpc_hour", 0.0) for h in heads])[:, None, None],
        version=version,
        weights=weights,
        intercepts=intercepts,
        cells=cells,
        templates=TemplateBandit.from_data(data["templates"], prior_s, prior_f),
        hour_weights=hour_weights,
        evidence_grid=evidence,
        router=CarrierRouter.from_data(data["router"], routing or RouterConfig()),
        optout=OptoutRisk.from_data(data.get("optout", [])),  # none in models published before it
    )


@dataclass(frozen=True)
class Scorer:
    """A frozen snapshot of the models for serving. The hour terms of the logit are laid out
    as (channel, hour) arrays, so a decision scores its whole grid of candidates at once."""

    version: str
    weights: dict[str, dict[str, float]]
    intercepts: dict[str, float]
    cells: dict[str, int]
    templates: TemplateBandit
    hour_weights: dict[str, np.ndarray]  # head -> (channel, hour) weight of `ch=c|h=h`
    evidence_grid: np.ndarray  # (channel, hour) examples seen
    head_terms: np.ndarray  # (head, channel, hour): intercept + `ch=c|h=h` weight; heads response, pay
    affinity_weights: np.ndarray  # (head, 1, 1): weight of the debtor's own hour affinity
    point_hour_weights: np.ndarray  # (head, 1, 1): weight of a number's lift at an hour (pt_rpc_hour)
    router: CarrierRouter = field(default_factory=CarrierRouter)
    optout: OptoutRisk = field(default_factory=OptoutRisk)
    _onehot: dict[tuple[str, ...], tuple[float, float]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def dot(self, head: str, x: dict[str, float]) -> float:
        w = self.weights[head]
        return sum([w.get(k, 0.0) * v for k, v in x.items()])

    def onehot_dots(self, keys: tuple[str, ...]) -> tuple[float, float]:
        """(response, pay) logit terms of indicator inputs, cached per key set: a scorer is
        immutable, and the same few (channel, DPD bucket, point type) keys recur."""
        cached = self._onehot.get(keys)
        if cached is None:
            wr, wp = self.weights["response"], self.weights["pay"]
            cached = (sum(wr.get(k, 0.0) for k in keys), sum(wp.get(k, 0.0) for k in keys))
            self._onehot[keys] = cached
        return cached

    def dots(self, x: dict[str, float]) -> tuple[float, float]:
        """(response, pay) dot products in one pass: the hot path's inner loop."""
        wr, wp = self.weights["response"], self.weights["pay"]
        r = p = 0.0
        for k, v in x.items():
            r += wr.get(k, 0.0) * v
            p += wp.get(k, 0.0) * v
        return r, p

    def proba(self, head: str, x: dict[str, float]) -> float:
        return sigmoid(self.intercepts[head] + self.dot(head, x))

    def evidence(self, channel: str, hour: int) -> int:
        return self.cells.get(cell(channel, hour), 0)


INITIAL_VERSION = "m-000000"


def initial_scorer() -> Scorer:
    return ContactModels().scorer(INITIAL_VERSION)
