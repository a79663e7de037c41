#!/usr/bin/env python3
"""The least wasted memory at which ANY policy that knows each key's arrival rate, minute by
minute, but not the arrival times, reaches the hybrid histogram's p75 on WorldCup98.

    bench/sim/rate_bound.py TRACE wc98-seed1.json [wc98-seed2.json ...]

TRACE is the WorldCup98 per-minute CSV; each JSON is `prewarm sim --json --sweep` output of
bench/sim/headline.sh on that trace (`--days 4 --warmup 1d`, the default split).

Why this bound holds. In the simulator a key's arrivals in a minute are its minute count at
uniform random times, so to a policy that knows the rate lambda(t) they are a Poisson
process. Keeping an instance loaded costs its memory per second; keeping none costs one
cold start per arrival. Increments of a Poisson process do not depend on the past, so the
cost of "memory + price x cold starts" is least when, at every moment, an instance is loaded
exactly when lambda(t) x price >= 1 (arrivals per second times the price in seconds of
memory). Sweeping the price traces the frontier; the script reads it where the keys' p75
cold-start rate (the simulator's nearest rank) reaches the hybrid's.

It is a lower bound for every policy that treats keys alike and does not know arrival
times: it knows lambda(t) exactly (a forecaster only estimates it), loads an instance with no
start lead time, and keeps no second instance for concurrent requests (both would cost
memory or cold starts). It is not a bound for a policy that gives up on some keys: the
p75 ignores the worst quarter of the keys, so never warming the three most expensive keys
would meet it with less memory; the script prints that figure too, for scale. One artefact
it leaves aside: the simulator rounds a fractional minute rate to 0 or 1 arrivals, so a
minute below one arrival never has a second one; a policy that exploited that (unloading
after a minute's first arrival) could beat the bound, but live traffic has no such rule.

The minute rates mirror `Wc98Split`'s defaults (src/sim/workload.h: regions, shifts, shares,
shapes, scale 0.01, the last 4 days); the script checks each key's expected arrivals against
the simulator's measured count in the JSON and stops if they differ by more than the
stochastic rounding explains (5 standard deviations and 1 %).
"""
import csv
import datetime
import json
import math
import re
import sys

REGIONS = [("us-west", -480, 0.25), ("us-east", -300, 0.25), ("eu-west", 60, 0.35),
           ("ap-east", 480, 0.15)]
TEMPLATES = [("static", 0.6, 64, 0.05), ("api", 0.3, 128, 0.25), ("video", 0.1, 256, 2.0)]
SCALE, DAYS, WARMUP_MIN = 0.01, 4, 1440


def minute_rates(path):
    """Per key (region-major, as the simulator orders them): (expected arrivals per measured
    minute, memory MB, service s)."""
    rows = list(csv.reader(open(path)))[1:]
    t0 = datetime.datetime.fromisoformat(rows[0][0])
    at = [int((datetime.datetime.fromisoformat(r[0]) - t0).total_seconds() // 60) for r in rows]
    trace = [0.0] * (at[-1] + 1)  # missing minutes read as 0, as the simulator does
    for m, r in zip(at, rows):
        trace[m] = float(r[1])
    shifts = [s for _, s, _ in REGIONS]
    hi = len(trace) - max(0, max(shifts))
    length = min(DAYS * 1440, hi - max(0, -min(shifts)))
    start = hi - length
    keys = []
    for _, shift, rshare in REGIONS:
        for _, tshare, mb, service in TEMPLATES:
            f = rshare * tshare * SCALE
            lam = [trace[start + m + shift] * f for m in range(WARMUP_MIN, length)]
            keys.append((lam, mb, service))
    return keys


def nearest_rank_p75(rates):
    rates = sorted(rates)
    return rates[max(math.ceil(0.75 * len(rates)), 1) - 1]


def key_cost(lam, mb, service, price_s):
    """(cold-start rate, expected cold starts, wasted MB-h) of one key at one price."""
    cold = sum(x for x in lam if x / 60.0 * price_s < 1.0)
    kept = [x for x in lam if x / 60.0 * price_s >= 1.0]
    return cold / sum(lam), cold, mb * (60.0 * len(kept) - service * sum(kept)) / 3600.0


def frontier(keys, price_s):
    costs = [key_cost(*k, price_s) for k in keys]
    return nearest_rank_p75([c[0] for c in costs]), sum(c[2] for c in costs)


def least_price(meets):
    """The least price (s) at which `meets(price)` holds, by bisection on a log scale (cold
    starts only fall as the price rises)."""
    lo, hi = 1.0, 1e6
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if meets(mid) else (mid, hi)
    return hi


def least_waste(keys, target):
    """The wasted MB-h at the least price whose p75 is <= target."""
    return frontier(keys, least_price(lambda p: frontier(keys, p)[0] <= target))[1]


def least_waste_giving_up(keys, target):
    """Never warm the keys above the nearest rank; the others each at their own least price."""
    per_key = [key_cost(*k, least_price(lambda p, k=k: key_cost(*k, p)[0] <= target))[2]
               for k in keys]
    kept = max(math.ceil(0.75 * len(keys)), 1)
    return sum(sorted(per_key)[:kept])


def main(trace, paths):
    keys = minute_rates(trace)
    print("seed  hybrid p75 %  hybrid wasted MB-h  bound MB-h  bound/hybrid  giving up 3 keys")
    for path in paths:
        d = json.load(open(path))
        measured = [k[0] for k in d["reference"]["keys"]]
        for i, ((lam, _, _), n) in enumerate(zip(keys, measured)):
            # Stochastic rounding: the count's variance is at most its mean.
            if abs(sum(lam) - n) > 5 * math.sqrt(sum(lam)) + 0.01 * n:
                raise SystemExit(f"{path}: key {i}: {n} arrivals measured, {sum(lam):.0f} expected "
                                 "from the split: does Wc98Split still have these defaults?")
        budget = d["budget"]["wasted_norm"] * d["reference"]["wasted_mb_h"]
        hybrid = next(a for a in d["budget"]["at_budget"] if a["policy"] == "hybrid-histogram")
        target = hybrid["cold_rate_p75"]
        bound = least_waste(keys, target)
        give_up = least_waste_giving_up(keys, target)
        seed = re.search(r"seed(\d+)", path)
        print(f"{seed.group(1) if seed else path:>4}  {100 * target:12.2f}  {budget:18.1f}  "
              f"{bound:10.1f}  {bound / budget:12.3f}  {give_up / budget:16.3f}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2:])
