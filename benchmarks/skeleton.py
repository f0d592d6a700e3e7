"""The two reference apps the engine is measured against, as pure ASGI callables (no
framework, so they are the floor of the stack, not of Starlette):

- `bare`: reads the request body and answers a small JSON object.
- `scoring`: what a decision must at least do: parse the body, one Redis HGETALL of the
  account's ~30 features (redis-py asyncio + hiredis, like the engine), and River
  `StandardScaler | LogisticRegression` `predict_proba_one` over 4 candidate dicts; answers
  the best candidate.

Both run under the engine's uvicorn flags (uvloop, httptools, one worker) and call
`gc.freeze()` after start-up, as the engine does. The scoring app reads `SKELETON_REDIS_URL`.
"""

from __future__ import annotations

import gc
import os
import random
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

N_FEATURES = 30
CHANNELS = ("sms", "whatsapp", "email", "voice")
KEY_PREFIX = "skel:"
_JSON_HEADERS = [(b"content-type", b"application/json")]


def feature_names() -> list[str]:
    return [f"f{i:02d}" for i in range(N_FEATURES)]


def feature_hash(rng: random.Random) -> dict[str, float]:
    """What the runner stores per account for the scoring app to read."""
    return {name: round(rng.gauss(0.0, 1.0), 6) for name in feature_names()}


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _reply(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send, startup: Callable[[], Awaitable[None]],
                    shutdown: Callable[[], Awaitable[None]]) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await startup()
            gc.collect()
            gc.freeze()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _nothing() -> None:
    return None


async def bare(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send, _nothing, _nothing)
        return
    if scope["type"] != "http":
        return
    await _body(receive)
    await _reply(send, 200, b'{"ok":true,"action":"wait"}', _JSON_HEADERS)


def train_model(seed: int = 7, n: int = 3000) -> Any:
    """A scaled logistic regression over the 30 account features and the candidate's terms."""
    from river import linear_model, preprocessing

    rng = random.Random(seed)
    model = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    for _ in range(n):
        x = candidates(feature_hash(rng))[rng.randrange(len(CHANNELS))]
        y = x["f00"] + 0.5 * x.get("ch_whatsapp", 0.0) + rng.gauss(0, 1) > 0.8
        model.learn_one(x, y)
    return model


def candidates(features: dict[str, float]) -> list[dict[str, float]]:
    out = []
    for channel in CHANNELS:
        x = dict(features)
        for c in CHANNELS:
            x[f"ch_{c}"] = 1.0 if c == channel else 0.0
        out.append(x)
    return out


class Scoring:
    def __init__(self) -> None:
        self.redis: Any = None
        self.model: Any = None

    async def startup(self) -> None:
        import redis.asyncio as aioredis

        self.redis = aioredis.Redis.from_url(os.environ["SKELETON_REDIS_URL"], max_connections=256)
        await self.redis.ping()
        self.model = train_model()

    async def shutdown(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, self.startup, self.shutdown)
            return
        if scope["type"] != "http":
            return
        if scope["path"] == "/healthz":
            await _body(receive)
            await _reply(send, 200, b"ok", [])
            return
        request = orjson.loads(await _body(receive))
        raw = await self.redis.hgetall(KEY_PREFIX + request["account_id"])
        if not raw:
            await _reply(send, 404, b'{"error":{"code":"not_found"}}', _JSON_HEADERS)
            return
        features = {k.decode(): float(v) for k, v in raw.items()}
        best, best_p = "", -1.0
        for channel, x in zip(CHANNELS, candidates(features), strict=True):
            p = self.model.predict_proba_one(x).get(True, 0.0)
            if p > best_p:
                best, best_p = channel, p
        body = orjson.dumps({"account_id": request["account_id"], "action": "contact",
                             "channel": best, "score": round(best_p, 4)})
        await _reply(send, 200, body, _JSON_HEADERS)


scoring = Scoring()
