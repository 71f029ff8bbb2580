"""LangChain's own standard cache test suites, unmodified, against llmcache."""

from __future__ import annotations

import pytest
from langchain_core.caches import BaseCache
from langchain_tests.integration_tests import AsyncCacheTestSuite, SyncCacheTestSuite

from langchain_memcached import MemcachedCache


class TestMemcachedCacheSync(SyncCacheTestSuite):
    @pytest.fixture
    def cache(self, memcached) -> BaseCache:
        return MemcachedCache(memcached.spec)


class TestMemcachedCacheAsync(AsyncCacheTestSuite):
    @pytest.fixture
    async def cache(self, memcached) -> BaseCache:
        return MemcachedCache(memcached.spec)
