"""AssetClaims: requests that share an asset take turns, others do not wait, a request
re-enters its own claims, and a safety preemption marks the judgements it overtook."""

from __future__ import annotations

import asyncio

import pytest

from control.execution.claims import AssetClaims


async def test_a_shared_asset_makes_the_second_request_wait_for_the_first() -> None:
    claims = AssetClaims()
    order: list[str] = []
    first_inside = asyncio.Event()
    let_first_go = asyncio.Event()

    async def first() -> None:
        async with claims.hold("req-1", {"press-1", "feeder-1"}):
            order.append("first in")
            first_inside.set()
            await let_first_go.wait()
            order.append("first out")

    async def second() -> None:
        await first_inside.wait()
        async with claims.hold("req-2", {"feeder-1"}):
            order.append("second in")

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await first_inside.wait()
    await asyncio.sleep(0.01)  # second has had every chance to get in
    assert order == ["first in"]
    let_first_go.set()
    await asyncio.gather(*tasks)
    assert order == ["first in", "first out", "second in"]


async def test_disjoint_scopes_run_side_by_side() -> None:
    claims = AssetClaims()
    both_inside = asyncio.Barrier(2)

    async def request(owner: str, asset: str) -> None:
        async with claims.hold(owner, {asset}):
            await both_inside.wait()  # deadlocks (and times out) if one waited for the other

    await asyncio.wait_for(
        asyncio.gather(request("req-1", "press-3"), request("req-2", "conveyor-2")), 2
    )


async def test_overlapping_scopes_taken_in_opposite_order_do_not_deadlock() -> None:
    claims = AssetClaims()

    async def request(owner: str, assets: list[str]) -> None:
        for _ in range(50):
            async with claims.hold(owner, assets):
                await asyncio.sleep(0)

    await asyncio.wait_for(
        asyncio.gather(
            request("req-1", ["press-3", "feeder-2"]), request("req-2", ["feeder-2", "press-3"])
        ),
        5,
    )


async def test_a_request_reenters_its_own_claim_and_keeps_it_until_the_outer_hold_ends() -> None:
    claims = AssetClaims()
    async with claims.hold("req-1", {"press-3", "feeder-2"}):
        async with claims.hold("req-1", {"press-3"}):  # its workflow's step, inside submit
            pass
        other = asyncio.create_task(claims.acquire("req-2", {"press-3"}))
        await asyncio.sleep(0.01)
        assert not other.done()  # the inner release did not give press-3 away
    await asyncio.wait_for(other, 1)
    claims.release("req-2", {"press-3"})


async def test_a_request_cancelled_while_waiting_gives_back_what_it_had_taken() -> None:
    claims = AssetClaims()
    await claims.acquire("req-1", {"press-3"})
    # req-2 takes feeder-2 (sorted first), then waits on press-3 and is cancelled there.
    waiting = asyncio.create_task(claims.acquire("req-2", {"feeder-2", "press-3"}))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.wait_for(claims.acquire("req-3", {"feeder-2"}), 1)


def test_releasing_what_one_does_not_hold_is_a_bug_and_says_so() -> None:
    with pytest.raises(RuntimeError, match="does not hold"):
        AssetClaims().release("req-1", {"press-3"})


async def test_a_preemption_marks_only_the_claims_it_overtook() -> None:
    claims = AssetClaims()
    await claims.acquire("req-1", {"press-3", "feeder-2"})
    await claims.acquire("req-2", {"press-1"})
    assert not claims.preempted("req-1", "press-3")
    claims.preempt(["press-3", "feeder-2", "conveyor-2"])  # line 2's e-stop
    assert claims.preempted("req-1", "press-3")
    assert claims.preempted("req-1", "feeder-2")
    assert not claims.preempted("req-2", "press-1")  # line 1 was not stopped
    claims.release("req-1", {"press-3", "feeder-2"})
    # Claimed after the e-stop: judged on the stopped plant, nothing stale.
    await claims.acquire("req-3", {"press-3"})
    assert not claims.preempted("req-3", "press-3")


async def test_holds_tells_whether_a_request_holds_all_of_a_scope() -> None:
    claims = AssetClaims()
    await claims.acquire("req-1", {"press-3", "feeder-2"})
    assert claims.holds("req-1", {"press-3"})
    assert claims.holds("req-1", {"press-3", "feeder-2"})
    assert not claims.holds("req-1", {"press-3", "conveyor-2"})
    assert not claims.holds("req-2", {"press-3"})


async def test_a_lock_nobody_holds_or_awaits_is_dropped() -> None:
    # Bad requests name assets the plant lacks; their locks must not pile up.
    claims = AssetClaims()
    for n in range(100):
        async with claims.hold(f"req-{n}", {f"press-{n}"}):
            pass
    await claims.acquire("req-a", {"press-3"})
    waiting = asyncio.create_task(claims.acquire("req-b", {"press-3"}))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    claims.release("req-a", {"press-3"})
    assert not claims._locks and not claims._users  # white-box: nothing left behind
