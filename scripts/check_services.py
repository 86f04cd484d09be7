"""Fail fast, with instructions, when PostgreSQL or Redis can't be reached (run before the tests)."""

from __future__ import annotations

import os
import sys

import dj_database_url
import psycopg2
import redis

START_PG = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
START_REDIS = (
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no '
    "--dir /var/lib/redis --logfile /var/log/redis/ci.log"
)


def main() -> int:
    db_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/agentops")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    problems = []
    cfg = dj_database_url.parse(db_url)
    try:
        psycopg2.connect(
            dbname="postgres", user=cfg.get("USER") or "postgres", password=cfg.get("PASSWORD") or None,
            host=cfg.get("HOST") or None, port=cfg.get("PORT") or None, connect_timeout=3,
        ).close()
    except psycopg2.Error as exc:
        problems.append(
            f"PostgreSQL is not reachable at {db_url} ({str(exc).strip()}).\n"
            f"  Start the local server with:  {START_PG}\n  or set DATABASE_URL to a server you can reach."
        )
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        problems.append(
            f"Redis is not reachable at {redis_url} ({exc}).\n"
            f"  Start the local server with:  {START_REDIS}\n  or set REDIS_URL to a server you can reach."
        )
    for p in problems:
        print(f"ERROR: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
