"""Fixtures of tests/worker live in worker_support.py (a unique module name: every conftest.py is
imported as "conftest", so tests must not import helpers from one)."""
from worker_support import *  # noqa: F401,F403
from worker_support import _one_thread  # noqa: F401 (autouse fixture)
