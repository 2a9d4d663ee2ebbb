"""The site's settings, for the test suite: a throwaway key, since tests run with DEBUG off."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret-" + "x" * 32)
# The test client speaks plain http; production's redirect to https would answer every request 301.
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
# django-axes refuses a sign-in that comes without its request, as the test client's login() does.
# The lockout's own tests turn it on (tests/inbox/accounts/test_login_security.py), and so do the servers the
# browser tests start (tests/browser/conftest.py).
os.environ.setdefault("AXES_ENABLED", "false")
# Not the address a `make run` on this machine noted: tests build their URLs from a fixed one.
os.environ.setdefault("PUBLIC_BASE_URL", "http://localhost:8000")

from inbox.settings import *  # noqa: E402, F403
from inbox.settings import DATABASES  # noqa: E402

# Each async test runs in a fresh event loop with fresh executor threads; a pooled connection held
# by such a thread when it ends is never given back, and after a few dozen tests the pool is empty.
# Servers keep their threads, so they pool (bench/ measures that); the suite connects plainly.
DATABASES["default"].get("OPTIONS", {}).pop("pool", None)

# Attachments tests store go to a throwaway folder, not the working tree; the servers and workers a
# test starts inherit the same one, and the run removes it at the end.
if "INBOX_TEST_MEDIA_ROOT" not in os.environ:
    os.environ["INBOX_TEST_MEDIA_ROOT"] = tempfile.mkdtemp(prefix="inbox-test-media-")
MEDIA_ROOT = os.environ["INBOX_TEST_MEDIA_ROOT"]
