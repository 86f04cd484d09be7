"""`make test` stops at once, saying how to start the services, when they can't be reached."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_services.py"


def _run(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT)], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=30)


def test_unreachable_services_fail_with_instructions():
    result = _run(DATABASE_URL="postgres://postgres@127.0.0.1:1/x", REDIS_URL="redis://127.0.0.1:1/0")
    assert result.returncode == 1
    assert "pg_ctlcluster" in result.stderr and "redis-server --daemonize yes" in result.stderr


def test_reachable_services_pass():
    assert _run().returncode == 0
