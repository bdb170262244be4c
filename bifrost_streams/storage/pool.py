"""aiopg pools, one per DSN, created on first use and closed at shutdown."""
from __future__ import annotations

import asyncio
from typing import Dict

import aiopg

_pools: Dict[str, aiopg.Pool] = {}
_lock = asyncio.Lock()


async def get_pool(dsn: str) -> aiopg.Pool:
    pool = _pools.get(dsn)
    if pool is not None and not pool.closed:
        return pool
    async with _lock:
        pool = _pools.get(dsn)
        if pool is None or pool.closed:
            pool = await aiopg.create_pool(dsn, minsize=1, maxsize=10, timeout=10)
            _pools[dsn] = pool
        return pool


async def close_pools() -> None:
    for pool in list(_pools.values()):
        pool.close()
        await pool.wait_closed()
    _pools.clear()


async def execute_schema(dsn: str, statements: str) -> None:
    """Run CREATE ... IF NOT EXISTS statements; several workers may start at once."""
    pool = await get_pool(dsn)
    async with pool.acquire() as conn:
        async with conn.cursor() as cur:
            # Serialise concurrent start-ups: CREATE IF NOT EXISTS races on the catalog.
            await cur.execute("SELECT pg_advisory_lock(424242)")
            try:
                await cur.execute(statements)
            finally:
                await cur.execute("SELECT pg_advisory_unlock(424242)")
