"""pytest fixtures for the fake provider, registered for all tests by tests/conftest.py.

``fake_anthropic`` is a fresh server per test, so scripts and recorded requests never leak between
tests. ``sdk_provider`` is the real ``AnthropicProvider`` (the real SDK) pointed at it, with retries
off and a short timeout unless a test asks otherwise.
"""
from __future__ import annotations

import pytest

from app.providers import AnthropicProvider
from tests.support.fake_anthropic import FakeAnthropic

TEST_TIMEOUT_SECONDS = 2.0


@pytest.fixture
def fake_anthropic():
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def sdk_provider(fake_anthropic):
    return AnthropicProvider("test-key", fake_anthropic.url, timeout=TEST_TIMEOUT_SECONDS, max_retries=0)
