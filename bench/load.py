"""Websocket clients for the two measurements: agents that only listen, visitors that write.

Everything is timed with one process's perf_counter, so send and receive stamps compare directly.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect

from bench import database
from bench.stats import summarize

WIDGET_ORIGIN = "https://shop.example"  # the one origin the seeded inbox allows
TOKEN_RE = re.compile(r"bench-[0-9a-f]{20}")
QUIET = 5.0  # after a phase, stop waiting for fragments once none has arrived for this long (s)
CONNECT = {"proxy": None, "open_timeout": 10, "max_size": 4 * 1024 * 1024}


def new_token() -> str:
    # The message id exists only once the server acks, so agents' fragments are matched by text.
    return f"bench-{uuid.uuid4().hex[:20]}"


def negotiated_extensions(ws: ClientConnection) -> str:
    return ws.response.headers.get("Sec-WebSocket-Extensions", "") or "none"


class Deliveries:
    """When each token was sent, and when each agent socket first showed it."""

    def __init__(self, agents: int):
        self.agents = agents
        self.sent: dict[str, float] = {}
        self.arrived: dict[str, dict[int, float]] = {}
        self.last_arrival = 0.0

    def mark_sent(self, token: str) -> None:
        self.sent[token] = time.perf_counter()

    def mark_arrived(self, agent: int, token: str, at: float) -> None:
        self.arrived.setdefault(token, {}).setdefault(agent, at)
        self.last_arrival = at

    def missing(self, tokens) -> int:
        return sum(self.agents - len(self.arrived.get(t, {})) for t in tokens)

    def latencies(self, tokens) -> list[float]:
        return [at - self.sent[t] for t in tokens for at in self.arrived.get(t, {}).values()]

    async def wait_all(self, tokens, timeout: float, quiet: float | None = None) -> None:
        """Poll until every agent saw every token, the timeout passes, or (with quiet) nothing has
        arrived for that long: a backlog still draining is waited for, a silent loss is not."""
        tokens = list(tokens)
        start = time.perf_counter()
        deadline = start + timeout
        while self.missing(tokens) and time.perf_counter() < deadline:
            if quiet and time.perf_counter() - max(self.last_arrival, start) > quiet:
                return
            await asyncio.sleep(0.05)


@dataclass
class Agent:
    ws: ClientConnection
    task: asyncio.Task | None = None
    closed: str = ""  # why the socket ended early, if it did


async def open_agents(ports: list[int], cookie_name: str, cookies: list[str], deliveries: Deliveries) -> list[Agent]:
    """One socket per agent, round-robin over the server processes' ports, as a proxy would spread
    them: with several processes, most fragments reach an agent through the channel layer."""
    agents = []
    for index, cookie in enumerate(cookies):
        port = ports[index % len(ports)]
        # The browser's own page opens this socket: same-site Origin, session cookie.
        ws = await connect(
            f"ws://127.0.0.1:{port}/ws/agent/",
            origin=f"http://127.0.0.1:{port}",
            additional_headers={"Cookie": f"{cookie_name}={cookie}"},
            **CONNECT,
        )
        agent = Agent(ws)
        agent.task = asyncio.create_task(_listen(agent, index, deliveries))
        agents.append(agent)
    return agents


async def _listen(agent: Agent, index: int, deliveries: Deliveries) -> None:
    try:
        async for frame in agent.ws:
            at = time.perf_counter()
            if isinstance(frame, str):
                for token in set(TOKEN_RE.findall(frame)):
                    deliveries.mark_arrived(index, token, at)
    except Exception as exc:  # noqa: BLE001 - reported, not raised: lost deliveries show it too
        agent.closed = f"{type(exc).__name__}: {exc}"
    else:
        agent.closed = f"closed by server: {agent.ws.close_code} {agent.ws.close_reason}"


@dataclass
class Visitor:
    """One chat widget: frames out, acks matched back to their sends by client id."""

    ws: ClientConnection
    port: int = 0  # which server process it talks to: ingest counts acks per process
    pending: dict[str, asyncio.Future] = field(default_factory=dict)
    errors: Counter = field(default_factory=Counter)
    reader: asyncio.Task | None = None

    @classmethod
    async def open(cls, port: int, inbox_token: str, timeout: float = 10) -> Visitor:
        ws = await connect(f"ws://127.0.0.1:{port}/ws/widget/{inbox_token}/", origin=WIDGET_ORIGIN, **CONNECT)
        await ws.send(json.dumps({"type": "hello", "visitor_token": None, "identity": {}}))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if welcome.get("type") != "welcome":
            raise RuntimeError(f"widget answered hello with {welcome}")
        visitor = cls(ws, port)
        visitor.reader = asyncio.create_task(visitor._read())
        return visitor

    async def send(self, text: str) -> asyncio.Future:
        """Send a message frame; the future resolves to (ack time, reply) when the server answers."""
        client_id = uuid.uuid4().hex
        reply = asyncio.get_running_loop().create_future()
        self.pending[client_id] = reply
        await self.ws.send(json.dumps({"type": "message", "id": client_id, "text": text}))
        return reply

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                at = time.perf_counter()
                data = json.loads(frame)
                if data.get("type") == "error":
                    self.errors[data.get("code")] += 1
                waiter = self.pending.pop(data.get("id"), None) if data.get("type") in ("ack", "error") else None
                if waiter and not waiter.done():
                    waiter.set_result((at, data))
        except Exception as exc:  # noqa: BLE001 - unanswered sends are counted by the caller
            self.errors[f"socket: {type(exc).__name__}"] += 1


async def open_visitors(ports: list[int], inbox_token: str, count: int, first: int = 0) -> list[Visitor]:
    """count widget sockets, round-robin over the ports from the first-th connection on (so later
    batches continue the rotation a proxy would make rather than restart it)."""
    return [await Visitor.open(ports[(first + i) % len(ports)], inbox_token) for i in range(count)]


def _acked(reply) -> bool:
    return reply is not None and reply[1].get("type") == "ack" and reply[1].get("message_id") is not None


async def warm_up(visitors: list[Visitor], deliveries: Deliveries, timeout: float = 15) -> None:
    """One message per visitor, all delivered: connections, templates and subscriptions are live."""
    tokens = [new_token() for _ in visitors]
    for visitor, token in zip(visitors, tokens, strict=False):
        deliveries.mark_sent(token)
        await visitor.send(f"warm-up {token}")
    await deliveries.wait_all(tokens, timeout)
    if deliveries.missing(tokens):
        raise RuntimeError(f"warm-up: {deliveries.missing(tokens)} deliveries missing after {timeout} s")


async def probe(visitor: Visitor, deliveries: Deliveries, *, count: int = 10, gap: float = 0.5) -> dict:
    """One message at a time on an otherwise idle server: the service time, without queueing."""
    tokens = []
    for _ in range(count):
        token = new_token()
        deliveries.mark_sent(token)
        tokens.append(token)
        answer = await visitor.send(f"probe {token}")
        await asyncio.wait([answer], timeout=10)
        await deliveries.wait_all([token], 10)
        await asyncio.sleep(gap)
    return {"latency": summarize(deliveries.latencies(tokens)), "lost": deliveries.missing(tokens)}


async def delivery(
    visitors: list[Visitor],
    deliveries: Deliveries,
    *,
    seconds: float,
    rate: float,
    ack_wait: float,
    drain: float,
    db_url: str,
) -> dict:
    """Open loop at a fixed total rate (sends never wait for acks, so a slow server cannot slow the
    offered load and hide its own latency); latency = send -> fragment on each agent socket.

    Afterwards: up to ack_wait for every ack (a server slower than the offered rate is still working
    through its backlog), then up to drain more for the agents' fragments; what is still missing
    then counts as lost.
    """
    before = await asyncio.to_thread(database.counts, db_url)
    tokens, sent_at, replies = [], {}, {}
    total = int(seconds * rate)
    start = time.perf_counter() + 0.05
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        token = new_token()
        deliveries.mark_sent(token)
        sent_at[token] = deliveries.sent[token]
        replies[token] = await visitors[i % len(visitors)].send(f"latency probe {token}")
        tokens.append(token)
    sending_ended = time.perf_counter()
    await asyncio.wait(list(replies.values()), timeout=ack_wait)
    await deliveries.wait_all(tokens, drain, quiet=QUIET)
    after = await asyncio.to_thread(database.counts, db_url)
    done = {t: f.result() for t, f in replies.items() if f.done()}
    return {
        "sent": total,
        "send_rate": total / (sending_ended - start),
        "backlog_s": max((at for at, _ in done.values()), default=sending_ended) - sending_ended,
        "expected": total * deliveries.agents,
        "received": total * deliveries.agents - deliveries.missing(tokens),
        "lost": deliveries.missing(tokens),
        "latency": summarize(deliveries.latencies(tokens)),
        "ack": summarize([done[t][0] - sent_at[t] for t in done]),
        "acked": sum(_acked(r) for r in done.values()),
        "db_messages": after["conversations_message"] - before["conversations_message"],
        "errors": dict(sum((v.errors for v in visitors), Counter())),
    }


async def _closed_loop(
    visitor: Visitor, deliveries: Deliveries, deadline: float, ack_timeout: float, out: dict
) -> None:
    while time.perf_counter() < deadline:
        token = new_token()
        deliveries.mark_sent(token)
        out["tokens"].append(token)
        try:
            answer = await visitor.send(f"ingest {token}")
            at, reply = await asyncio.wait_for(answer, ack_timeout)
        except TimeoutError:
            out["timeouts"] += 1
            return  # this socket is stuck; the others carry on until the deadline
        out["ack_latencies"].append(at - deliveries.sent[token])
        out["last_ack"] = max(out["last_ack"], at)
        if _acked((at, reply)):
            out["acked"] += 1
            out["acked_by_port"][visitor.port] += 1
        else:
            out["refused"] += 1


async def ingest(
    visitors: list[Visitor], deliveries: Deliveries, *, seconds: float, ack_timeout: float, drain: float, db_url: str
) -> dict:
    """Closed loop: each visitor sends its next message as soon as the last one is acked."""
    before = await asyncio.to_thread(database.counts, db_url)
    out = {
        "tokens": [],
        "ack_latencies": [],
        "acked": 0,
        "acked_by_port": Counter(),
        "refused": 0,
        "timeouts": 0,
        "last_ack": 0.0,
    }
    start = time.perf_counter()
    await asyncio.gather(*(_closed_loop(v, deliveries, start + seconds, ack_timeout, out) for v in visitors))
    elapsed = max(out["last_ack"], start + seconds) - start
    await deliveries.wait_all(out["tokens"], drain, quiet=QUIET)
    after = await asyncio.to_thread(database.counts, db_url)
    return {
        "visitors": len(visitors),
        "seconds": elapsed,
        "acked": out["acked"],
        "acked_by_port": dict(out["acked_by_port"]),
        "rate": out["acked"] / elapsed,
        "refused": out["refused"],
        "timeouts": out["timeouts"],
        "ack": summarize(out["ack_latencies"]),
        "db_messages": after["conversations_message"] - before["conversations_message"],
        "db_events": after["conversations_inboundevent"] - before["conversations_inboundevent"],
        "deliveries_expected": len(out["tokens"]) * deliveries.agents,
        "deliveries_lost": deliveries.missing(out["tokens"]),
        "delivery_latency": summarize(deliveries.latencies(out["tokens"])),
        "errors": dict(sum((v.errors for v in visitors), Counter())),
    }
