"""Fixed-window counters shared by every server process: in Redis (one round trip for all the
counters a check needs), or in the local cache on the embedded default."""

import functools
import time

import redis
from django.conf import settings
from django.core.cache import cache


@functools.cache
def _redis() -> redis.Redis | None:
    url = getattr(settings, "REDIS_CACHE_URL", "") or settings.REDIS_URL
    return redis.Redis.from_url(url) if url else None


def _count_locally(bucket: str, window_seconds: int) -> int:
    if cache.add(bucket, 1, timeout=window_seconds + 1):
        return 1
    try:
        return cache.incr(bucket)
    except ValueError:  # the bucket expired between add and incr
        cache.add(bucket, 1, timeout=window_seconds + 1)
        return 1


def allow(limits: dict[str, int], *, window_seconds: int) -> bool:
    """Count one hit on each key; False if any key has more hits than its limit in this window."""
    window = int(time.time() // window_seconds)
    buckets = {f"ratelimit:{key}:{window}": limit for key, limit in limits.items()}
    client = _redis()
    if client is None:
        counts = [_count_locally(bucket, window_seconds) for bucket in buckets]
    else:
        pipe = client.pipeline(transaction=False)
        for bucket in buckets:
            pipe.incr(bucket)
            pipe.expire(bucket, window_seconds + 1)
        counts = pipe.execute()[::2]
    return all(count <= limit for count, limit in zip(counts, buckets.values(), strict=True))


def reset() -> None:
    """Forget every counter (tests)."""
    client = _redis()
    if client is not None:
        for key in client.scan_iter("ratelimit:*"):
            client.delete(key)
