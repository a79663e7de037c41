#!/usr/bin/env python3
"""Prints each baseline's figures in the minute model beside the independent reference
simulator's (issue 16; Azure 200 sample, no warm-up, minute resolution, wasted memory x a
fixed 10-minute keep-alive's in the same mode), with the relative difference.

    reference.py ONE_INSTANCE.json CONCURRENCY.json

Each JSON is `prewarm sim --minute-model M --policy hybrid-histogram,fixed-keepalive
--param fixed-keepalive.keepalive_s=60m --json` on 200_inv.csv. Goal: memory within +-5 %,
cold-start rates within +-10 % (relative)."""
import json
import sys

# mode -> baseline -> (waste x fixed 10 min, p75 cold %, overall cold %)
REFERENCE = {
    "one-instance": {"hybrid-histogram": (1.888, 27.27, 0.325),
                     "fixed-keepalive 60m": (1.670, 66.67, 0.258)},
    "concurrency": {"hybrid-histogram": (2.374, 27.27, 0.407),
                    "fixed-keepalive 60m": (1.896, 66.67, 0.383)},
}
TOLERANCE = (0.05, 0.10, 0.10)


def runs(path):
    d = json.load(open(path))
    out = {}
    for r in d["runs"]:
        name = r["policy"]
        if name == "fixed-keepalive":
            name += " " + r["params"].get("keepalive_s", "10m")
        out[name] = (r["wasted_norm"], 100 * r["cold_rate_p75"], 100 * r["cold_rate"])
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(f"{'mode':13} {'baseline':20} {'':5} {'waste x10m':>10} {'p75 cold %':>10} {'cold %':>8}")
    ok = True
    for mode, path in zip(("one-instance", "concurrency"), sys.argv[1:]):
        got = runs(path)
        for name, ref in REFERENCE[mode].items():
            if name not in got:
                sys.exit(f"{path}: no run of {name}")
            ours = got[name]
            rel = [(o - r) / r for o, r in zip(ours, ref)]
            within = all(abs(x) <= t for x, t in zip(rel, TOLERANCE))
            ok &= within
            print(f"{mode:13} {name:20} {'ref':5} {ref[0]:10.3f} {ref[1]:10.2f} {ref[2]:8.3f}")
            print(f"{'':13} {'':20} {'ours':5} {ours[0]:10.3f} {ours[1]:10.2f} {ours[2]:8.3f}")
            print(f"{'':13} {'':20} {'diff':5} {100*rel[0]:+9.1f}% {100*rel[1]:+9.1f}% "
                  f"{100*rel[2]:+7.1f}%  {'within' if within else 'OUTSIDE'} +-5/10/10 %")
    print("all within tolerance" if ok else "some figures are outside the tolerance")


if __name__ == "__main__":
    main()
