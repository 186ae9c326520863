"""The Redis client, when REDIS_URL is set; without it the callers fall back to in-process state."""

from __future__ import annotations

import redis

from leadmarket.settings import Settings

_clients: dict[str, redis.Redis] = {}


def redis_client(settings: Settings) -> redis.Redis | None:
    if not settings.redis_url:
        return None
    if settings.redis_url not in _clients:
        _clients[settings.redis_url] = redis.Redis.from_url(
            settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=30)
    return _clients[settings.redis_url]


def redis_status(settings: Settings) -> str:
    client = redis_client(settings)
    if client is None:
        return "disabled"
    try:
        client.ping()
    except redis.RedisError:
        return "down"
    return "ok"
