"""Test overlay: only what tests need differently from production settings."""

import os

os.environ.setdefault("STAYHUB_ALLOW_DEV_SECRET", "1")

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, not memory: tests that boot uvicorn in a subprocess share it.
    # STAYHUB_TEST_SQLITE names another file, so that parallel runs do not share one.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.environ.get("STAYHUB_TEST_SQLITE") or str(BASE_DIR / ".test-db.sqlite3")  # noqa: F405
    }
