"""The ASGI entry point uvicorn workers import: settings from `CADENCIA_CONFIG` (a TOML
path; the embedded default when unset), Redis from `CADENCIA_REDIS_URL`, the timelines'
archive from `CADENCIA_ARCHIVE_DIR`."""

from __future__ import annotations

from connectors.store import RedisStore
from engine.api.app import build_app
from engine.metrics import Metrics
from engine.settings import archive_dir, settings_from_env


def create_app():
    settings, url = settings_from_env()
    store = RedisStore.from_url(
        url,
        settings.redis.shards,
        log_maxlen=settings.redis.log_maxlen,
        dedup_days=settings.redis.dedup_days,
        decision_days=settings.redis.decision_days,
    )
    return build_app(settings, store, Metrics(), archive=archive_dir(settings))
