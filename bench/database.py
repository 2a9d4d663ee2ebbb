"""The throwaway PostgreSQL databases: a seeded template, and a fresh copy of it per server run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent


def url_for(base_url: str, name: str) -> str:
    """The same server and user as base_url, another database."""
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _admin(base_url: str) -> psycopg.Connection:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    return psycopg.connect(url_for(base_url, "postgres"), autocommit=True)


def drop(base_url: str, name: str) -> None:
    with _admin(base_url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def create(base_url: str, name: str, template: str | None = None) -> None:
    drop(base_url, name)
    with _admin(base_url) as conn:
        if template:
            # A byte copy of the seeded template: every server run starts from identical data.
            query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
        else:
            query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        conn.execute(query)


def migrate_and_seed(db_url: str, agents: int, widget_origin: str, history: int, timeout: float = 300) -> dict:
    """Migrate the database and seed it; returns the inbox token and the agents' session cookies."""
    env = {**os.environ, "DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "inbox.settings", "DEBUG": "true"}
    env.pop("REDIS_URL", None)  # seeding touches neither the layer nor the cache
    run = {"cwd": REPO, "env": env, "capture_output": True, "text": True, "timeout": timeout}
    done = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], **run)
    if done.returncode:
        raise RuntimeError(f"migrate failed:\n{done.stdout}\n{done.stderr}")
    done = subprocess.run([sys.executable, "-m", "bench.seed", str(agents), widget_origin, str(history)], **run)
    if done.returncode:
        raise RuntimeError(f"seeding failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def counts(db_url: str) -> dict[str, int]:
    """Rows the ingest path writes, to check every acknowledged message was stored once."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        return {
            table: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]
            for table in ("conversations_message", "conversations_inboundevent")
        }


def server_version(base_url: str) -> str:
    with _admin(base_url) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]
