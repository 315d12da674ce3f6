"""A realistic synthetic switch feed: rated CDRs as a wholesale carrier's switches emit them.

Customers and dialled numbers are heavy-tailed (a few customers and numbers carry most of the
traffic), each customer sends most of its calls to one or two home markets, every dialled
number is a full international number in its destination's range, each customer/provider
route has its own ASR between 40 and 60 %, failures are 486/487/503/404, a few IVR numbers
receive DTMF, and some CDRs are rerated (a higher `rev` with a new charge) or resent
unchanged, as switches do after timeouts.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class Destination:
    customer_destination: str
    provider_destination: str
    prefix: str  # country code and the range's leading digits
    digits: int  # length of a full international number, country code included
    sell_per_minute: str
    ivr_number: str | None = None  # a service number receiving DTMF, in this destination's range


DESTINATIONS = [
    Destination("United Kingdom - Mobile", "UK Mobile", "447", 12, "0.0120"),
    Destination("United Kingdom - Fixed", "UK Fixed", "4420", 12, "0.0040", ivr_number="442033000111"),
    Destination("India - Mobile", "India Mobile", "919", 12, "0.0110", ivr_number="919800011122"),
    Destination("United States", "USA", "1212", 11, "0.0030", ivr_number="12125550100"),
    Destination("Germany - Mobile", "Germany Mobile", "4915", 13, "0.0250"),
    Destination("Nigeria - Mobile", "Nigeria Mobile", "23480", 13, "0.0900"),
    Destination("Nepal - Mobile", "Nepal Mobile", "97798", 13, "0.1100"),
    Destination("Canada - Newfoundland", "Canada", "1709", 11, "0.0060"),
]
IVR_DESTINATIONS = [d for d in DESTINATIONS if d.ivr_number]
FAILURES = [(486, 0.35), (487, 0.35), (503, 0.2), (404, 0.1)]
SWITCHES = ["sw-lon-1", "sw-fra-1", "sw-nyc-1"]
MICRO = Decimal("0.000001")


@dataclass(frozen=True)
class FeedShape:
    customers: int = 20
    providers: int = 6
    numbers: int = 50_000
    rerate_share: float = 0.02
    resend_share: float = 0.01
    seed: int = 1


def _zipf_cumulative(n: int, exponent: float) -> list[float]:
    """Cumulative Zipf weights of ranks 1..n, for `random.choices(cum_weights=...)`."""
    return list(itertools.accumulate(1 / (k**exponent) for k in range(1, n + 1)))


class SwitchFeed:
    def __init__(self, shape: FeedShape = FeedShape()) -> None:
        self.shape = shape
        self.rng = random.Random(shape.seed)
        self.customers = [f"cust-{i:03d}" for i in range(1, shape.customers + 1)]
        self.customer_weights = _zipf_cumulative(shape.customers, 1.1)
        self.providers = [f"carrier-{chr(ord('a') + i % 26)}{i // 26 or ''}" for i in range(shape.providers)]
        self.route_asr = {(c, p): self.rng.uniform(0.4, 0.6) for c in self.customers for p in self.providers}
        self.destination_mix = {c: self._destination_weights() for c in self.customers}
        self.number_ranks = range(shape.numbers)
        self.number_weights = _zipf_cumulative(shape.numbers, 0.9)
        self.sequence = 0
        self.recent: list[dict] = []

    def _destination_weights(self) -> list[float]:
        """A customer's traffic mix: one or two home markets carry most of it, the rest a little each."""
        weights = [self.rng.uniform(0.2, 1.0) for _ in DESTINATIONS]
        for home in self.rng.sample(range(len(DESTINATIONS)), 2):
            weights[home] *= self.rng.uniform(5, 15)
        return weights

    def _number(self, destination: Destination) -> str:
        rank = self.rng.choices(self.number_ranks, cum_weights=self.number_weights)[0]
        subscriber_digits = destination.digits - len(destination.prefix)
        return destination.prefix + f"{(rank * 7919) % 10**subscriber_digits:0{subscriber_digits}d}"

    def _cdr(self, start_ms: int, ending: bool = False) -> dict:
        """A call starting at `start_ms`; with `ending`, one that ends (hangs up) then instead."""
        rng = self.rng
        self.sequence += 1
        customer = rng.choices(self.customers, cum_weights=self.customer_weights)[0]
        provider = rng.choice(self.providers)
        ivr = rng.random() < 0.03
        if ivr:
            destination = rng.choice(IVR_DESTINATIONS)
            dest_number = destination.ivr_number
        else:
            destination = rng.choices(DESTINATIONS, weights=self.destination_mix[customer])[0]
            dest_number = self._number(destination)
        connected = rng.random() < self.route_asr[(customer, provider)]
        event: dict = {
            "id": f"{self.shape.seed}-{start_ms}-{self.sequence}",
            "start_time": start_ms,
            "customer": customer,
            "provider": provider if connected or rng.random() < 0.8 else "",
            "customer_destination": destination.customer_destination,
            "provider_destination": destination.provider_destination,
            "cli": f"1{rng.randrange(200, 999)}{rng.randrange(10**6):06d}",
            "dest_number": dest_number,
            "sip_code": 200
            if connected
            else rng.choices([c for c, _ in FAILURES], weights=[w for _, w in FAILURES])[0],
            "pdd_in_ms": int(rng.lognormvariate(7.3, 0.5)),
            "switch": rng.choice(SWITCHES),
        }
        if connected:
            pdd_out = int(event["pdd_in_ms"] * rng.uniform(0.6, 0.95))
            duration = round(min(rng.lognormvariate(4.0, 1.1), 7200.0), 3)
            customer_billed = 60 * -(-int(duration * 1000) // 60_000)
            provider_billed = 6 * -(-int(duration * 1000) // 6_000)
            sell = Decimal(destination.sell_per_minute)
            cost = sell * Decimal(rng.uniform(0.7, 0.95)).quantize(Decimal("0.01"))
            event |= {
                "duration": duration,
                "customer_duration": customer_billed,
                "provider_duration": provider_billed,
                "customer_charge": str((sell * customer_billed / 60).quantize(MICRO, ROUND_HALF_UP)),
                "provider_charge": str((cost * provider_billed / 60).quantize(MICRO, ROUND_HALF_UP)),
                "pdd_out_ms": pdd_out,
                "dtmf": rng.randrange(1, 12) if ivr else 0,
            }
        if ending:  # rang for pdd_in_ms, then talked for the duration
            event["start_time"] = start_ms - event["pdd_in_ms"] - int(event.get("duration", 0) * 1000)
        return event

    def events(self, start_ms: int, count: int, spread_ms: int, ending: bool = False) -> Iterator[dict]:
        """`count` events starting within [start_ms, start_ms + spread_ms), with rerates and resends;
        with `ending`, calls that end (hang up) in that span instead, as a switch sends them."""
        rng = self.rng
        for _ in range(count):
            roll = rng.random()
            if self.recent and roll < self.shape.resend_share:
                yield rng.choice(self.recent)
                continue
            if self.recent and roll < self.shape.resend_share + self.shape.rerate_share:
                earlier = rng.choice(self.recent)
                charge = Decimal(earlier.get("customer_charge", "0")) * Decimal("1.05")
                rerated = earlier | {"rev": earlier.get("rev", 0) + 1, "customer_charge": str(charge.quantize(MICRO))}
                self.recent.append(rerated)
                yield rerated
                continue
            event = self._cdr(start_ms + rng.randrange(max(spread_ms, 1)), ending)
            if len(self.recent) < 1000:
                self.recent.append(event)
            else:
                self.recent[rng.randrange(1000)] = event
            yield event
