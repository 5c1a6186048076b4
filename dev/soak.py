#!/usr/bin/env python3
"""A load test with invariants on the local stack (not in dev/test, which runs a 20-second version).

    dev/soak [--seconds 60] [--users 12] [--seed 1]

Starts a stack of its own (dev/sim/harness.py: on $AWS_ENDPOINT_URL's moto when set, else on a moto of
its own), mints a token per user and one per user as moderator, and runs --users threads for
--seconds. Each creates markets (a third with a first position), takes positions on any live market
with an Idempotency-Key, sends some of them twice as if the first answer had been lost, replays old
keys, edits its own markets (some with If-Match, some closing them), deletes some of them as a
moderator, and reads, lists and searches. Like the careful client of API.md, it retries a 503 after
its Retry-After, and a lost answer (timeout, dropped connection) or any other 5xx at once, with the
same request and key.

Then it waits (bounded) for the index jobs and checks, and exits 1 if any of this fails:
- every live market's volume is exactly (decimal) the sum of the positions answered 201 on it;
- its version is 1 + its edits answered 200 + those positions (a create's first position counts in
  the volume, not the version). Every edit sets a field to a value it never had, so an edit answered
  200 changed the version, once: the retry of an edit whose answer was lost is a no-op;
- a walk of its positions lists each of those positions once, and no other, and sums to its volume;
- every deleted market is 404, and was 404 to every read that started after its DELETE answered;
- every live market is found by a search for its name;
- a replayed key got its first answer, and no answer was a 5xx other than 503 with Retry-After.
It prints the requests of the load (not the checks), their rate, p50/p99 latency and the share of 503s.
"""
from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import quote, urlsplit

from sim.harness import REPO, StackDidNotStart, mint_token, tool_stack

ATTEMPTS = 10         # tries of one request before its outcome is called unknown
ANSWER_TIMEOUT = 30   # seconds without an answer: lost
INDEX_WAIT = 120      # seconds the index jobs get before a market not found by search is a failure
# How often each action is picked by a user.
ACTIONS = {"create": 12, "position": 40, "replay": 6, "edit": 12, "delete": 3, "read": 14, "browse": 8, "search": 5}
WORDS = "heron quartz lantern meadow cobalt falcon tundra saffron harbor glacier orchid basalt".split()


def exact_json(data: bytes):
    """A body with its numbers as exact decimals (amounts and volumes are decimal strings in JSON)."""
    return json.loads(data, parse_float=Decimal) if data else None


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: dict | None
    # Whether an earlier try may have been applied (lost, or a 5xx): the answer is then a replay or
    # the answer to a repeat.
    after_unknown: bool = False


class Unanswered(Exception):
    """No answer after ATTEMPTS tries: whether the request was applied is unknown."""


class Stats:
    """Every answer of a phase: latencies, statuses, and the 5xx the contract does not allow."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.lost = 0
        self.dropped = 0  # answers the client threw away on purpose, to send the same request again
        self.bad_5xx: list[str] = []

    def answered(self, method: str, path: str, status: int, retry_after: str | None, seconds: float) -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status >= 500 and not (status == 503 and retry_after and retry_after.isdigit()):
                self.bad_5xx.append(f"{method} {path}: {status} (Retry-After {retry_after!r})")

    def lost_answer(self) -> None:
        with self.lock:
            self.lost += 1

    def dropped_answer(self) -> None:
        with self.lock:
            self.dropped += 1


class Client:
    """One user's keep-alive connection to the stack."""

    def __init__(self, base: str, stats: Stats) -> None:
        url = urlsplit(base)
        self.host, self.port, self.stats = url.hostname, url.port, stats
        self.connection: http.client.HTTPConnection | None = None

    def once(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Answer | None:
        """One try: its answer, or None if it was lost."""
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=ANSWER_TIMEOUT)
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = None
            self.stats.lost_answer()
            return None
        self.stats.answered(method, path.split("?")[0], response.status, response.getheader("retry-after"),
                            time.perf_counter() - started)
        try:
            body_value = exact_json(data)
        except ValueError:
            body_value = None
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, body_value)

    def call(self, method: str, path: str, body: bytes | None = None, token: str | None = None,
             headers: dict[str, str] | None = None) -> Answer:
        """The request, tried again as API.md asks: after Retry-After on a 503, at once when the
        answer was lost or another 5xx; the same request and key every time."""
        headers = {**(headers or {}), **({"authorization": f"Bearer {token}"} if token else {})}
        if body is not None:
            headers["content-type"] = "application/json"
        unknown = False
        for _ in range(ATTEMPTS):
            answer = self.once(method, path, body, headers)
            if answer is not None and answer.status < 500:
                answer.after_unknown = unknown
                return answer
            unknown = True
            if answer is not None and answer.status == 503:
                time.sleep(min(5, int(answer.headers.get("retry-after", "1") or 1)))
        raise Unanswered(f"{method} {path}: no answer after {ATTEMPTS} tries")


@dataclass
class Market:
    id: str
    creator: int
    name: str
    description: str
    initial: Decimal = Decimal(0)
    positions: dict[str, Decimal] = field(default_factory=dict)
    edits: int = 0
    closed: bool = False
    deleted: bool = False


class World:
    """What the users were answered: every market, its positions and edits, and the violations seen
    during the load."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.markets: dict[str, Market] = {}
        self.live: list[str] = []
        self.violations: list[str] = []

    def violation(self, text: str) -> None:
        with self.lock:
            self.violations.append(text)

    def add(self, market: Market) -> None:
        with self.lock:
            self.markets[market.id] = market
            self.live.append(market.id)

    def any_live(self, rng: random.Random) -> Market | None:
        with self.lock:
            return self.markets[rng.choice(self.live)] if self.live else None


class User(threading.Thread):
    def __init__(self, index: int, base: str, world: World, stats: Stats, token: str, moderator: str,
                 until: float, seed: int) -> None:
        super().__init__(name=f"user-{index}", daemon=True)
        self.index, self.world, self.token, self.moderator, self.until = index, world, token, moderator, until
        self.client = Client(base, stats)
        self.rng = random.Random(seed * 1000 + index)
        self.own: list[Market] = []
        # (path, body, key, the id its first answer created) of keyed writes answered 201.
        self.keyed: list[tuple[str, bytes, str, str]] = []
        self.serial = 0

    def run(self) -> None:
        actions, weights = list(ACTIONS), list(ACTIONS.values())
        while time.monotonic() < self.until:
            action = self.rng.choices(actions, weights)[0]
            try:
                getattr(self, action)()
            except Unanswered as error:
                self.world.violation(str(error))

    def fresh(self, what: str) -> str:
        """A text no market had before (so that an edit to it always changes the market)."""
        self.serial += 1
        return f"{what} {self.rng.choice(WORDS)} {self.rng.choice(WORDS)} {self.index}-{self.serial}-" \
               f"{uuid.uuid4().hex[:6]}"

    def amount(self) -> Decimal:
        return Decimal(self.rng.randint(1, 10**8)).scaleb(-6)

    def keyed_write(self, path: str, body: bytes) -> tuple[Answer, str]:
        """A POST with a new Idempotency-Key; one in ten is sent twice, its first answer dropped."""
        key = str(uuid.uuid4())
        headers = {"idempotency-key": key}
        if self.rng.random() < 0.1:
            self.client.stats.dropped_answer()
            self.client.once("POST", path, body, {**headers, "authorization": f"Bearer {self.token}",
                                                  "content-type": "application/json"})
        answer = self.client.call("POST", path, body, self.token, headers)
        return answer, key

    def create(self) -> None:
        name, description = self.fresh("Will the soak"), self.fresh("About")
        first = self.amount() if self.rng.random() < 0.33 else None
        fields = f'"name":{json.dumps(name)},"description":{json.dumps(description)}'
        if first is not None:
            fields += f',"initialPosition":{{"outcome":"yes","amount":{first:f}}}'
        body = f"{{{fields}}}".encode()
        answer, key = self.keyed_write("/api/markets", body)
        if answer.status != 201:
            return self.world.violation(f"POST /api/markets: {answer.status} {answer.body}")
        market = Market(answer.body["data"]["id"], self.index, name, description, first or Decimal(0))
        self.own.append(market)
        self.keyed.append(("/api/markets", body, key, market.id))
        self.world.add(market)

    def position(self) -> None:
        market = self.world.any_live(self.rng)
        if market is None:
            return
        amount, path = self.amount(), f"/api/markets/{market.id}/positions"
        body = f'{{"outcome":"{self.rng.choice(["yes", "no"])}","amount":{amount:f}}}'.encode()
        answer, key = self.keyed_write(path, body)
        if answer.status == 201:
            data = answer.body["data"]
            if Decimal(data["amount"]) != amount:
                self.world.violation(f"POST {path}: amount {data['amount']} for {amount:f}")
            with self.world.lock:
                market.positions[data["id"]] = amount
            self.keyed.append((path, body, key, data["id"]))
        elif answer.status not in (404, 409):  # deleted, or closed: counted as not taken
            self.world.violation(f"POST {path}: {answer.status} {answer.body}")

    def replay(self) -> None:
        if not self.keyed:
            return
        path, body, key, created = self.rng.choice(self.keyed)
        answer = self.client.call("POST", path, body, self.token, {"idempotency-key": key})
        if answer.status != 201 or answer.body["data"]["id"] != created:
            self.world.violation(f"replay of {key} on {path}: {answer.status} {answer.body}, first answer {created}")

    def edit(self) -> None:
        mine = [m for m in self.own if not m.deleted]
        if not mine:
            return
        market = self.rng.choice(mine)
        path = f"/api/markets/{market.id}"
        roll = self.rng.random()
        if roll < 0.1 and not market.closed:
            field_name, value = "status", "closed"
        elif roll < 0.7:
            field_name, value = "name", self.fresh("Will the soak")
        else:
            field_name, value = "description", self.fresh("About")
        headers = {}
        if self.rng.random() < 0.3:  # with the version just read: a position in between makes it a 412
            read = self.client.call("GET", path)
            if read.status != 200:
                return self.world.violation(f"GET {path} of a live market: {read.status}")
            headers["if-match"] = read.headers["etag"]
        answer = self.client.call("PATCH", path, json.dumps({field_name: value}).encode(), self.token, headers)
        applied = answer.status == 200
        if answer.status != 200 and answer.after_unknown:
            # A try whose answer was lost may have applied it (this user is the market's only editor).
            now = self.client.call("GET", path)
            applied = now.status == 200 and now.body["data"][field_name] == value
        elif answer.status not in (200, 412):
            return self.world.violation(f"PATCH {path} {field_name}: {answer.status} {answer.body}")
        if applied:
            with self.world.lock:
                market.edits += 1
                if field_name == "status":
                    market.closed = True
                else:
                    setattr(market, field_name, value)

    def delete(self) -> None:
        mine = [m for m in self.own if not m.deleted]
        if len(mine) < 2:
            return
        market = self.rng.choice(mine)
        answer = self.client.call("DELETE", f"/api/markets/{market.id}", token=self.moderator)
        if answer.status == 204 or (answer.status == 404 and answer.after_unknown):
            with self.world.lock:
                market.deleted = True
                self.world.live.remove(market.id)
        else:
            self.world.violation(f"DELETE {market.id}: {answer.status} {answer.body}")

    def read(self) -> None:
        with self.world.lock:
            if not self.world.markets:
                return
            market = self.world.markets[self.rng.choice(list(self.world.markets))]
            was_deleted = market.deleted
        answer = self.client.call("GET", f"/api/markets/{market.id}")
        if answer.status == 200:
            data = answer.body["data"]
            if was_deleted:
                self.world.violation(f"GET {market.id} after its DELETE was answered: 200")
            if answer.headers.get("etag") != f'"v{data["version"]}"':
                self.world.violation(f"GET {market.id}: ETag {answer.headers.get('etag')} for version {data['version']}")
        elif answer.status != 404:
            self.world.violation(f"GET {market.id}: {answer.status}")

    def browse(self) -> None:
        sort = self.rng.choice(["createdAt", "volume", "name"])
        path = f"/api/markets?sort={sort}&limit=20"
        for _ in range(self.rng.randint(1, 3)):
            answer = self.client.call("GET", path)
            if answer.status != 200:
                return self.world.violation(f"GET {path}: {answer.status} {answer.body}")
            cursor = answer.body["meta"]["nextCursor"]
            if not cursor:
                return
            path = f"/api/markets?sort={sort}&limit=20&cursor={quote(cursor)}"

    def search(self) -> None:
        path = f"/api/markets/search?q={quote(' '.join(self.rng.sample(WORDS, 2)))}&limit=10"
        answer = self.client.call("GET", path)
        if answer.status != 200:
            self.world.violation(f"GET {path}: {answer.status} {answer.body}")


def check_market(client: Client, market: Market) -> list[str]:
    """The invariants of one market, from what its users were answered."""
    path = f"/api/markets/{market.id}"
    answer = client.call("GET", path)
    if market.deleted:
        return [] if answer.status == 404 else [f"{market.id} was deleted and is {answer.status}"]
    if answer.status != 200:
        return [f"{market.id} is live and GET answers {answer.status}"]
    data, problems = answer.body["data"], []
    volume, expected = Decimal(data["volume"]), market.initial + sum(market.positions.values(), Decimal(0))
    if volume != expected:
        problems.append(f"{market.id}: volume {volume} is not the sum of its {len(market.positions)} positions "
                        f"answered 201 (and first position {market.initial}): {expected}")
    if data["version"] != 1 + market.edits + len(market.positions):
        problems.append(f"{market.id}: version {data['version']}, not 1 + {market.edits} edits + "
                        f"{len(market.positions)} positions")
    seen: list[str] = []
    walked = Decimal(0)
    cursor_path = f"{path}/positions?limit=100"
    for _ in range(len(market.positions) // 100 + 3):
        page = client.call("GET", cursor_path)
        if page.status != 200:
            return problems + [f"GET {cursor_path}: {page.status}"]
        seen.extend(p["id"] for p in page.body["data"])
        walked += sum((Decimal(p["amount"]) for p in page.body["data"]), Decimal(0))
        cursor = page.body["meta"]["nextCursor"]
        if not cursor:
            break
        cursor_path = f"{path}/positions?limit=100&cursor={quote(cursor)}"
    else:
        problems.append(f"{market.id}: its positions walk did not end")
    if len(seen) != len(set(seen)):
        problems.append(f"{market.id}: its positions walk lists {len(seen) - len(set(seen))} positions twice")
    # The create's first position is listed too; its id was never answered.
    missing, others = set(market.positions) - set(seen), set(seen) - set(market.positions)
    if missing or len(others) != (1 if market.initial else 0):
        problems.append(f"{market.id}: its positions walk misses {len(missing)} positions answered 201 and "
                        f"lists {len(others)} others (first position: {market.initial or 'none'})")
    if walked != volume:
        problems.append(f"{market.id}: its positions walk sums to {walked}, its volume is {volume}")
    return problems


def searchable(client: Client, markets: list[Market]) -> list[str]:
    """Every market found by a search for its name, once the index jobs are done (waited for, bounded)."""
    waiting, deadline = list(markets), time.monotonic() + INDEX_WAIT
    while waiting and time.monotonic() < deadline:
        still = []
        for market in waiting:
            answer = client.call("GET", f"/api/markets/search?q={quote(market.name[:500])}&limit=10")
            if answer.status != 200 or market.id not in {m["id"] for m in answer.body["data"]}:
                still.append(market)
        waiting = still
        if waiting:
            time.sleep(1)
    return [f"{m.id} ({m.name!r}) is not found by a search for its name after {INDEX_WAIT} s" for m in waiting]


def soak(base: str, args: argparse.Namespace) -> int:
    tokens = [mint_token(f"soak-user-{i}", "user", f"Soak user {i}") for i in range(args.users)]
    moderators = [mint_token(f"soak-user-{i}", "moderator", f"Soak user {i}") for i in range(args.users)]
    world, load = World(), Stats()
    started = time.monotonic()
    users = [User(i, base, world, load, tokens[i], moderators[i], started + args.seconds, args.seed)
             for i in range(args.users)]
    for user in users:
        user.start()
    for user in users:
        user.join()
    elapsed = time.monotonic() - started

    checks = Stats()
    markets = list(world.markets.values())
    with ThreadPoolExecutor(args.users) as pool:
        found = list(pool.map(lambda market: check_market(Client(base, checks), market), markets))
    problems = world.violations + [problem for market_problems in found for problem in market_problems]
    live = [m for m in markets if not m.deleted]
    problems += searchable(Client(base, checks), live)
    problems += [f"a 5xx other than 503 with Retry-After: {bad}" for bad in load.bad_5xx + checks.bad_5xx]

    requests = len(load.latencies)
    quantiles = statistics.quantiles(load.latencies, n=100) if requests > 1 else [0.0] * 99
    unavailable = load.statuses.get(503, 0)
    positions = sum(len(m.positions) for m in markets)
    print(f"dev/soak: {args.users} users for {elapsed:.0f} s: {requests} requests, {requests / elapsed:.1f} req/s, "
          f"p50 {quantiles[49] * 1000:.0f} ms, p99 {quantiles[98] * 1000:.0f} ms, "
          f"503 {unavailable / max(1, requests):.2%} ({unavailable}), {load.lost} answers lost, "
          f"{load.dropped} dropped on purpose and sent again")
    print(f"dev/soak: {len(markets)} markets ({sum(m.deleted for m in markets)} deleted, "
          f"{sum(m.closed for m in markets)} closed), {positions} positions, "
          f"{sum(m.edits for m in markets)} edits; statuses {dict(sorted(load.statuses.items()))}")
    if problems:
        print(f"dev/soak: FAILED, {len(problems)} invariant violations:", file=sys.stderr)
        for problem in problems[:20]:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"dev/soak: every invariant holds ({len(live)} live markets checked, "
          f"{len(markets) - len(live)} deleted are 404)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--users", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1, help="seed of the users' choices (not of their timing)")
    args = parser.parse_args()
    log = REPO / "target/soak/functions.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    try:
        with tool_stack("soak", log, {"RATE_LIMIT_PER_MINUTE": "100000000"}) as base:
            return soak(base, args)
    except StackDidNotStart as error:
        print(f"dev/soak: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
