"""What the hardware and services allow at best, measured beside the app in the same run."""

from __future__ import annotations

import time
import uuid

import psycopg
import redis

from bench.stats import summarize


def pg_commit(db_url: str, seconds: float = 3.0, max_ops: int = 200_000) -> dict:
    """One single-row INSERT + COMMIT at a time on one open connection.

    A plain (logged) table, not a TEMP one: temp tables write no WAL, so their commits skip the
    fsync that every real message commit pays.
    """
    latencies = []
    with psycopg.connect(db_url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, body text NOT NULL)")
        conn.commit()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline and len(latencies) < max_ops:
            start = time.perf_counter()
            conn.execute("INSERT INTO bench_floor (body) VALUES (%s)", ("x" * 64,))
            conn.commit()
            latencies.append(time.perf_counter() - start)
        conn.execute("DROP TABLE bench_floor")
        conn.commit()
    return {"ops_per_s": len(latencies) / sum(latencies), **summarize(latencies)}


def pg_connect_commit(db_url: str, seconds: float = 3.0, max_ops: int = 20_000) -> dict:
    """A new connection for every INSERT + COMMIT: the cost CONN_MAX_AGE=0 adds to each message."""
    latencies = []
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_floor_c (id bigserial PRIMARY KEY, body text NOT NULL)")
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline and len(latencies) < max_ops:
        start = time.perf_counter()
        with psycopg.connect(db_url) as conn:
            conn.execute("INSERT INTO bench_floor_c (body) VALUES (%s)", ("x" * 64,))
            conn.commit()
        latencies.append(time.perf_counter() - start)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DROP TABLE bench_floor_c")
    return {"ops_per_s": len(latencies) / sum(latencies), **summarize(latencies)}


def redis_pubsub(redis_url: str, prefix: str, seconds: float = 3.0, max_ops: int = 200_000) -> dict:
    """PUBLISH on one connection until the message is read on a subscribed one, one at a time."""
    channel = f"{prefix}:floor:{uuid.uuid4().hex}"
    publisher = redis.Redis.from_url(redis_url)
    subscriber = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    latencies = []
    try:
        subscriber.subscribe(channel)
        _wait_subscribed(subscriber, publisher, channel)
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline and len(latencies) < max_ops:
            start = time.perf_counter()
            publisher.publish(channel, b"x" * 256)
            _receive(subscriber, timeout=1.0)
            latencies.append(time.perf_counter() - start)
    finally:
        subscriber.close()
        publisher.close()
    return {"ops_per_s": len(latencies) / sum(latencies), **summarize(latencies)}


def _receive(subscriber, timeout: float) -> dict:
    # get_message() answers None for a subscribe confirmation it swallowed: read on until data.
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        message = subscriber.get_message(timeout=max(0.0, deadline - time.perf_counter()))
        if message is not None:
            return message
    raise RuntimeError("redis floor: a published message never arrived")


def _wait_subscribed(subscriber, publisher, channel: str, timeout: float = 5.0) -> None:
    # get_message() swallows the subscribe confirmation; then the channel must show a subscriber.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        subscriber.get_message(timeout=0.05)
        if publisher.pubsub_numsub(channel)[0][1] >= 1:
            return
    raise RuntimeError("redis floor: subscription not confirmed")
