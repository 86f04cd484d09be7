"""Settings for the test suite: the product's settings with DEBUG on, stated explicitly.

The product defaults to DEBUG off (production). Tests turn it on so the development secret key and
the plain static-file storage are accepted; pytest-django still runs each test with DEBUG off.
Workers that tests start as subprocesses inherit these variables.
"""

import os

os.environ.setdefault("DEBUG", "1")

from agentops.settings import *  # noqa: E402,F403
