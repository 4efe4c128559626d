"""What every broker backend must do: the hub, the stream log and the claims, written
against the interfaces only and run on memory and on the machine's Redis.

"Two nodes" are two brokers on one shared space: two memory brokers on one `MemorySpace`,
or two Redis clients on one database.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from sheetstream.broker.base import (
    CHUNK,
    END,
    ENDED,
    LOST,
    PREFACE,
    REFUSED,
    STALE,
    START,
    WRITTEN,
    Broker,
    LogEntry,
)
from sheetstream.broker.memory import MemorySpace, memory_broker
from tests.redisdb import fresh_redis_url, redis_reachable, release


@dataclass
class Nodes:
    make: Callable[[], Broker]
    made: list[Broker]

    def node(self) -> Broker:
        broker = self.make()
        self.made.append(broker)
        return broker


@pytest.fixture(scope="module")
def redis_url() -> AsyncIterator[str]:
    if not redis_reachable():
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable at 127.0.0.1:6379; .ci/run starts it")
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    url = fresh_redis_url()
    yield url  # type: ignore[misc]
    release(url)


@pytest.fixture(params=["memory", "redis"])
async def nodes(request: pytest.FixtureRequest) -> AsyncIterator[Nodes]:
    if request.param == "memory":
        space = MemorySpace()
        made = Nodes(lambda: memory_broker(space), [])
    else:
        from sheetstream.broker.redis import redis_broker

        url = request.getfixturevalue("redis_url")
        release(url)  # each test starts from an empty database
        made = Nodes(lambda: redis_broker(url), [])
    yield made
    for broker in made.made:
        await broker.close()


async def eventually(check: Callable[[], bool], within_s: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# --- hub


async def test_publish_reaches_every_node_subscribed(nodes: Nodes) -> None:
    a, b, c = nodes.node(), nodes.node(), nodes.node()
    got_a: list[str] = []
    got_b: list[str] = []
    await a.hub.subscribe("fleet", got_a.append)
    await b.hub.subscribe("fleet", got_b.append)
    assert await c.hub.publish("fleet", '{"n": 1}') == 2
    await eventually(lambda: got_a == ['{"n": 1}'] and got_b == ['{"n": 1}'])
    assert await c.hub.publish("elsewhere", "x") == 0


async def test_unsubscribed_node_gets_nothing_more(nodes: Nodes) -> None:
    a, b = nodes.node(), nodes.node()
    got: list[str] = []
    await a.hub.subscribe("s", got.append)
    assert await b.hub.publish("s", "one") == 1
    await eventually(lambda: got == ["one"])
    await a.hub.unsubscribe("s")
    assert await b.hub.publish("s", "two") == 0
    await asyncio.sleep(0.05)
    assert got == ["one"]


async def test_listeners_counts_the_nodes_subscribed(nodes: Nodes) -> None:
    a, b, c = nodes.node(), nodes.node(), nodes.node()
    await a.hub.subscribe("session:1", lambda _: None)
    await b.hub.subscribe("session:1", lambda _: None)
    await b.hub.subscribe("session:2", lambda _: None)
    counts = await c.hub.listeners(["session:1", "session:2", "session:3"])
    assert counts == {"session:1": 2, "session:2": 1, "session:3": 0}
    await b.hub.unsubscribe("session:1")
    assert await c.hub.listeners(["session:1"]) == {"session:1": 1}
    assert await c.hub.listeners([]) == {}


async def test_failing_handler_does_not_stop_delivery(nodes: Nodes) -> None:
    a, b = nodes.node(), nodes.node()
    got: list[str] = []

    def flaky(message: str) -> None:
        if message == "bad":
            raise ValueError(message)
        got.append(message)

    await a.hub.subscribe("s", flaky)
    if a.shared:  # a memory publisher runs the handler itself: its failure is the caller's
        await b.hub.publish("s", "bad")
    await b.hub.publish("s", "good")
    await eventually(lambda: got == ["good"])


# --- stream log


def chunk(n: int) -> LogEntry:
    return LogEntry(CHUNK, f'{{"type":"chunk","seq":{n}}}', f"{n}.5", n)


START_ENTRY = LogEntry(START, "", '{"session_id":"s1"}')


def end(after: int, reason: str = "complete") -> LogEntry:
    return LogEntry(END, f'{{"reason":"{reason}"}}', "", after)


async def test_log_keeps_entries_in_order_and_reads_after_a_cursor(nodes: Nodes) -> None:
    a, b = nodes.node(), nodes.node()
    preface = LogEntry(PREFACE, "tool", "1.0", 1)
    assert await a.log.append({"st1": [START_ENTRY, preface, chunk(1)]}, 60) == {"st1": WRITTEN}
    written = await a.log.append({"st1": [chunk(2), chunk(3)], "st2": [START_ENTRY, chunk(1)]}, 60)
    assert written == {"st1": WRITTEN, "st2": WRITTEN}
    entries = await b.log.read("st1")
    assert [e for _, e in entries] == [START_ENTRY, preface] + [chunk(n) for n in (1, 2, 3)]
    cursors = [c for c, _ in entries]
    assert len(set(cursors)) == 5
    assert [e for _, e in await b.log.read("st1", cursors[2])] == [chunk(2), chunk(3)]
    assert await b.log.read("st1", cursors[-1]) == []
    assert [e for _, e in await b.log.read("st2")] == [START_ENTRY, chunk(1)]
    assert await b.log.read("unknown") == []
    assert await b.log.exists(["st1", "unknown"]) == {"st1": True, "unknown": False}


async def test_a_write_sent_again_doubles_nothing(nodes: Nodes) -> None:
    a = nodes.node()
    batch = [START_ENTRY, LogEntry(PREFACE, "tool", "", 1), chunk(1), chunk(2)]
    await a.log.append({"st": batch}, 60)
    await a.log.append({"st": [*batch[1:], chunk(3)]}, 60)  # a retry, and one more
    entries = [e for _, e in await a.log.read("st")]
    assert entries == [*batch, chunk(3)]


async def test_log_takes_one_end_and_nothing_after_it(nodes: Nodes) -> None:
    a, b = nodes.node(), nodes.node()
    assert await a.log.append({"st": [START_ENTRY, chunk(1)]}, 60) == {"st": WRITTEN}
    results = await asyncio.gather(
        a.log.append({"st": [chunk(2), end(2)]}, 60),
        b.log.append({"st": [end(1, "interrupted")]}, 60),
    )
    outcomes = sorted(r["st"] for r in results)
    # the reaper's end after chunk 1 wins and the chunk's write is refused, or the chunk
    # and its end win and the reaper's end, which no longer follows the last chunk, is stale
    assert outcomes in ([ENDED, REFUSED], [ENDED, STALE])
    assert await a.log.append({"st": [chunk(3)]}, 60) == {"st": REFUSED}
    assert await a.log.append({"st": [end(3)]}, 60) == {"st": REFUSED}
    kinds = [e.kind for _, e in await b.log.read("st")]
    assert kinds.count(END) == 1 and kinds[-1] == END


async def test_an_end_must_follow_the_chunks_the_log_has(nodes: Nodes) -> None:
    a = nodes.node()
    await a.log.append({"st": [START_ENTRY, chunk(1), chunk(2)]}, 60)
    assert await a.log.append({"st": [end(1, "interrupted")]}, 60) == {"st": STALE}
    assert await a.log.append({"st": [chunk(3), end(3)]}, 60) == {"st": ENDED}
    assert [e.kind for _, e in await a.log.read("st")][-2:] == [CHUNK, END]


async def test_a_lost_log_asks_to_be_written_from_its_start(nodes: Nodes) -> None:
    a = nodes.node()
    assert await a.log.append({"gone": [chunk(4)]}, 60) == {"gone": LOST}
    assert await a.log.read("gone") == []
    assert await a.log.append({"gone": [START_ENTRY, chunk(1)]}, 60) == {"gone": WRITTEN}


async def test_log_expires_after_its_ttl(nodes: Nodes) -> None:
    a = nodes.node()
    await a.log.append({"short": [START_ENTRY, chunk(1)], "long": [START_ENTRY, chunk(1)]}, 0.2)
    await a.log.append({"long": [chunk(2)]}, 60)  # each write sets the stream's expiry anew
    await asyncio.sleep(0.35)
    assert await a.log.read("short") == []
    assert len(await a.log.read("long")) == 3
    assert await a.log.append({"short": [chunk(2)]}, 60) == {"short": LOST}


async def test_follow_waits_for_entries_and_returns_them(nodes: Nodes) -> None:
    a, b = nodes.node(), nodes.node()
    await a.log.append({"st": [START_ENTRY, chunk(1)]}, 60)
    cursor = (await b.log.read("st"))[-1][0]
    assert await b.log.follow("node-b", {"st": cursor}, 0.05) == {}  # nothing new: timeout
    follow = asyncio.create_task(b.log.follow("node-b", {"st": cursor, "other": "0"}, 5))
    await asyncio.sleep(0.05)
    assert not follow.done()
    await a.log.append({"st": [chunk(2), chunk(3)]}, 60)
    found = await asyncio.wait_for(follow, 2)
    assert list(found) == ["st"]
    assert [e for _, e in found["st"]] == [chunk(2), chunk(3)]


async def test_nudge_wakes_a_follower_early(nodes: Nodes) -> None:
    a, b = nodes.node(), nodes.node()
    await b.log.follow("node-b", {}, 0.01)  # a follower that has followed before
    follow = asyncio.create_task(b.log.follow("node-b", {"quiet": "0"}, 10))
    await asyncio.sleep(0.05)
    await a.log.nudge("node-b")
    assert await asyncio.wait_for(follow, 2) == {}


# --- claims


async def test_claim_is_exclusive_until_released(nodes: Nodes) -> None:
    a, b = nodes.node(), nodes.node()
    assert await a.claims.claim("session:1", "node-a", 10) is None
    assert await b.claims.claim("session:1", "node-b", 10) == "node-a"
    assert await a.claims.claim("session:1", "node-a", 10) is None  # the holder renews
    assert await b.claims.holder("session:1") == "node-a"
    assert not await b.claims.release("session:1", "node-b")
    assert await a.claims.release("session:1", "node-a")
    assert await b.claims.holder("session:1") is None
    assert await b.claims.claim("session:1", "node-b", 10) is None


async def test_concurrent_claims_have_one_winner(nodes: Nodes) -> None:
    brokers = [nodes.node() for _ in range(5)]
    results = await asyncio.gather(
        *(b.claims.claim("reap:st", f"node-{i}", 10) for i, b in enumerate(brokers))
    )
    assert results.count(None) == 1


async def test_claim_lapses_unless_renewed(nodes: Nodes) -> None:
    a, b = nodes.node(), nodes.node()
    await a.claims.claim("kept", "node-a", 1.0)
    await a.claims.claim("lapsed", "node-a", 1.0)
    await b.claims.claim("theirs", "node-b", 1.0)
    await asyncio.sleep(0.3)
    lost = await a.claims.renew({"kept": "node-a", "theirs": "node-a"}, {}, 5.0)
    assert lost == ["theirs"]  # another's claim is not taken by renewing it
    await asyncio.sleep(1.0)
    assert await b.claims.holder("kept") == "node-a"
    assert await b.claims.holder("lapsed") is None
    assert await b.claims.holder("theirs") is None
    assert await b.claims.claim("lapsed", "node-b", 1) is None


async def test_renew_takes_back_what_lapsed_unless_another_took_it(nodes: Nodes) -> None:
    a, b = nodes.node(), nodes.node()
    await a.claims.claim("stalled", "node-a", 0.2)
    await a.claims.claim("taken", "node-a", 0.2)
    await a.claims.join("owner:ann", "st1", 0.2, limit=1)
    await asyncio.sleep(0.4)  # all lapsed: the node stalled, or Redis restarted empty
    assert await b.claims.claim("taken", "node-b", 10) is None
    lost = await a.claims.renew(
        {"stalled": "node-a", "taken": "node-a"}, {"owner:ann": ["st1"]}, 10
    )
    assert lost == ["taken"]
    assert await b.claims.holder("stalled") == "node-a"
    assert await b.claims.holder("taken") == "node-b"
    assert set(await b.claims.members("owner:ann")) == {"st1"}


async def test_group_holds_at_most_its_limit(nodes: Nodes) -> None:
    a, b = nodes.node(), nodes.node()
    assert await a.claims.join("owner:ann", "st1", 10, limit=2)
    assert await b.claims.join("owner:ann", "st2", 10, limit=2, value="on b")
    assert not await a.claims.join("owner:ann", "st3", 10, limit=2)
    assert await a.claims.join("owner:ann", "st1", 10, limit=2)  # a member renews at the limit
    assert await a.claims.members("owner:ann") == {"st1": "", "st2": "on b"}
    await b.claims.leave("owner:ann", "st2")
    assert await a.claims.join("owner:ann", "st3", 10, limit=2)
    assert set(await b.claims.members("owner:ann")) == {"st1", "st3"}
    assert await a.claims.members("nobody") == {}


async def test_concurrent_joins_never_exceed_the_limit(nodes: Nodes) -> None:
    brokers = [nodes.node() for _ in range(6)]
    joined = await asyncio.gather(
        *(b.claims.join("owner:bo", f"st{i}", 10, limit=3) for i, b in enumerate(brokers))
    )
    assert joined.count(True) == 3
    assert len(await brokers[0].claims.members("owner:bo")) == 3


async def test_members_lapse_unless_renewed(nodes: Nodes) -> None:
    a, b = nodes.node(), nodes.node()
    await a.claims.join("nodes", "node-a", 1.0, value='{"pid": 1}')
    await b.claims.join("nodes", "node-b", 1.0)
    await asyncio.sleep(0.3)
    await a.claims.renew({}, {"nodes": ["node-a"]}, 5.0)
    await asyncio.sleep(1.0)
    assert await b.claims.members("nodes") == {"node-a": '{"pid": 1}'}
    assert await b.claims.join("nodes", "node-b", 1, limit=2)  # a lapsed member frees its place


async def test_channels_of_other_databases_are_not_heard(redis_url: str) -> None:
    """Pub/sub is server-wide in Redis; two fleets on two databases must not cross-talk."""
    from sheetstream.broker.redis import redis_broker
    from tests.redisdb import fresh_redis_url

    other_url = fresh_redis_url()
    mine, other = redis_broker(redis_url), redis_broker(other_url)
    try:
        got: list[str] = []
        await mine.hub.subscribe("fleet", got.append)
        assert await other.hub.publish("fleet", "not for you") == 0
        assert await other.hub.listeners(["fleet"]) == {"fleet": 0}
        assert await mine.hub.publish("fleet", "for you") == 1
        await eventually(lambda: got == ["for you"])
    finally:
        await mine.close()
        await other.close()
        release(other_url)


async def test_scripts_flushed_by_a_restart_are_loaded_again(redis_url: str) -> None:
    """A restarted Redis has no scripts: the first pipeline reloads them and goes through."""
    import redis as sync_redis

    from sheetstream.broker.redis import redis_broker

    release(redis_url)
    broker = redis_broker(redis_url)
    try:
        await broker.log.append({"st": [START_ENTRY, chunk(1)]}, 60)
        with sync_redis.Redis.from_url(redis_url) as admin:
            admin.script_flush()
        assert await broker.log.append({"st": [chunk(2)]}, 60) == {"st": WRITTEN}
        assert await broker.claims.renew({"k": "me"}, {"g": ["m"]}, 5) == []
        assert [e.n for _, e in await broker.log.read("st")] == [1, 1, 2]
    finally:
        await broker.close()
