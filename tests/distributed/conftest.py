"""Fixtures of tests/distributed live in dask_support.py (a unique module name: every conftest.py
is imported as "conftest", so tests must not import helpers from one)."""
from dask_support import *  # noqa: F401,F403
