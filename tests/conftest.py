"""Shared fixtures: small worlds are cheap, so most tests build their own."""
from __future__ import annotations

import pytest

from lab.data import simulate_world


@pytest.fixture(scope="session")
def world():
    """A small randomised world shared by read-only tests."""
    return simulate_world(n_users=3000, n_days=20, shift_days=(12,), seed=7)


@pytest.fixture(scope="session")
def targeted_world():
    """A small world with confounded (targeted) offer assignment."""
    return simulate_world(n_users=3000, n_days=20, shift_days=(12,), seed=7, assignment="targeted")
