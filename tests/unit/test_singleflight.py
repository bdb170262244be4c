import asyncio


import pytest

from bifrost_streams.singleflight import LeaderCancelled, SingleFlight


async def test_concurrent_callers_share_one_call():
    flight: SingleFlight[int] = SingleFlight()
    calls = 0
    release = asyncio.Event()

    async def work():
        nonlocal calls
        calls += 1
        await release.wait()
        return 7

    tasks = [asyncio.create_task(flight.do("k", work)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    outcomes = await asyncio.gather(*tasks)
    assert calls == 1
    assert sorted(shared for _, shared in outcomes) == [False, True, True, True, True]
    assert all(value == 7 for value, _ in outcomes) and len(flight) == 0


async def test_errors_reach_every_waiter_and_the_key_is_freed():
    flight: SingleFlight[int] = SingleFlight()

    async def boom():
        await asyncio.sleep(0.01)
        raise ValueError("no")

    results = await asyncio.gather(flight.do("k", boom), flight.do("k", boom),
                                   return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in results)
    assert (await flight.do("k", _seven)) == (7, False)


async def _seven():
    return 7


async def test_a_cancelled_leader_fails_its_sharers_without_cancelling_them():
    flight: SingleFlight[int] = SingleFlight()
    never = asyncio.Event()

    async def hangs():
        await never.wait()
        return 1

    leader = asyncio.create_task(flight.do("k", hangs))
    await asyncio.sleep(0)
    sharer = asyncio.create_task(flight.do("k", hangs))
    await asyncio.sleep(0)
    leader.cancel()
    with pytest.raises(LeaderCancelled):
        await sharer
    assert leader.cancelled() and len(flight) == 0
