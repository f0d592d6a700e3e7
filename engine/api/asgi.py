"""The ASGI entry point uvicorn workers import: settings from `CADENCIA_CONFIG` (a TOML
path; the embedded default when unset) and Redis from `CADENCIA_REDIS_URL`."""

from __future__ import annotations

from connectors.store import RedisStore
from engine.api.app import build_app
from engine.metrics import Metrics
from engine.settings import settings_from_env


def create_app():
    settings, url = settings_from_env()
    store = RedisStore.from_url(
        url,
        settings.redis.shards,
        log_maxlen=settings.redis.log_maxlen,
        timeline_maxlen=settings.redis.timeline_maxlen,
        retention_days=settings.redis.retention_days,
        dedup_days=settings.redis.dedup_days,
        decision_days=settings.redis.decision_days,
    )
    return build_app(settings, store, Metrics())
