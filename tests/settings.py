"""Settings for the test suite: the product's settings with DEBUG on, stated explicitly.

The product defaults to DEBUG off (production). Tests turn it on so the development secret key and
the plain static-file storage are accepted; pytest-django still runs each test with DEBUG off.
Workers that tests start as subprocesses inherit these variables.
"""

import os
import secrets

os.environ.setdefault("DEBUG", "1")
# Cache keys of this test run only: object ids restart with every test database, so a count, a quota
# window or a cached page left in Redis by an earlier run (within its expiry) must not be read as this
# run's. Set before the product's settings read it; worker subprocesses inherit it.
os.environ.setdefault("CACHE_KEY_PREFIX", f"agentops-test-{secrets.token_hex(4)}")

from agentops.settings import *  # noqa: E402,F403
