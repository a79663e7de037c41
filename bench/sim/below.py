#!/usr/bin/env python3
"""Is prewarm's curve below the baselines' everywhere? (bench/sim/run.sh)

Reads a `prewarm sim --sweep --csv` file. For each metric (75th-percentile and overall
cold-start rate) and each baseline, both curves are read, linearly between their sweep
points, at every point of either curve where the two overlap in wasted memory; prints
how many of those predictive is below or level with, and where it is above.

  bench/sim/below.py build/sim-bench/azure200.csv [--policy predictive]
                     [--baselines fixed-keepalive,reactive-kpa]
"""
import argparse
import csv


def curve(rows, policy, metric):
    return sorted((float(r["wasted_norm"]), float(r[metric])) for r in rows if r["policy"] == policy)


def at(points, x):
    """The curve's value at wasted memory x, or None outside its span."""
    if not points or x < points[0][0] or x > points[-1][0]:
        return None
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--policy", default="predictive")
    ap.add_argument("--baselines", default="fixed-keepalive,reactive-kpa")
    a = ap.parse_args()
    rows = list(csv.DictReader(open(a.csv)))
    for metric, label in (("cold_rate_p75", "p75 cold"), ("cold_rate", "cold")):
        mine = curve(rows, a.policy, metric)
        for base in a.baselines.split(","):
            theirs = curve(rows, base, metric)
            xs = sorted({x for x, _ in mine} | {x for x, _ in theirs})
            compared, above = 0, []
            for x in xs:
                ym, yt = at(mine, x), at(theirs, x)
                if ym is None or yt is None:
                    continue
                compared += 1
                if ym > yt * (1 + 1e-9):
                    above.append(f"{x:.3f}x: {100 * ym:.3g} vs {100 * yt:.3g} %")
            where = "; ".join(above[:4]) + (" ..." if len(above) > 4 else "")
            print(f"{label:9} vs {base:16} below or level at {compared - len(above)}/{compared} memory points"
                  + (f"; above at {where}" if above else ""))


if __name__ == "__main__":
    main()
