#!/usr/bin/env python3
"""Hindsight bound for the Azure p75 goal (bench/sim/README.md).

For each function of an Azure sample, the cheapest single-instance plan chosen knowing
the whole day -- keep warm for K minutes after each invocation, or unload and reload at
P minutes, warm until K -- that keeps its cold-start rate after the warm-up at or below
the target. Minute resolution, one instance (concurrency is ignored, so this is a lower
bound on memory). Prints how much idle memory the N cheapest functions need, for N
around the 75th percentile of the functions that run after the warm-up.

  bench/sim/hindsight.py [TRACES/azure2019] [--size 200] [--target 0.0835] [--warmup 120]
"""
import argparse
import csv
import math
import os


def evaluate(minutes, warmup, day, keep, prewarm):
    """(measured invocations, cold ones, idle minutes) of one plan."""
    measured = cold = idle = 0
    prev = None
    for m in minutes:
        if m >= warmup:
            measured += 1
            if prev is None:
                cold += 1  # first seen after the warm-up
            else:
                gap = m - prev - 1  # idle minutes
                cold += gap > keep or (prewarm > 0 and gap < prewarm)
                if gap >= prewarm:
                    idle += max(0, min(gap, keep) - prewarm)
        prev = m
    if prev is not None:
        idle += max(0, min(day - prev - 1, keep) - prewarm)
    return measured, cold, idle


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", nargs="?", default="../shared/data/traces/azure2019")
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--target", type=float, default=0.0835)
    ap.add_argument("--warmup", type=int, default=120, help="minutes not measured")
    a = ap.parse_args()
    memory = {}
    with open(os.path.join(a.dir, f"{a.size}_mem.csv")) as f:
        for r in csv.DictReader(f):
            memory[r["HashApp"]] = float(r["AverageAllocatedMb"])
    plans = []  # (MB.h, function index, keep, prewarm) or None when no plan reaches it
    with open(os.path.join(a.dir, f"{a.size}_inv.csv")) as f:
        rows = list(csv.reader(f))[1:]
    for i, r in enumerate(rows):
        counts = [int(x) for x in r[3:]]
        minutes = [m for m, c in enumerate(counts) if c > 0]
        if not any(m >= a.warmup for m in minutes):
            continue  # does not run after the warm-up: not in the metric
        mb = memory.get(r[2], 0.0)
        best = None
        for keep in list(range(0, 60)) + list(range(60, len(counts) + 1, 5)):
            for prewarm in [0] + list(range(1, keep, max(1, keep // 20))):
                n, c, idle = evaluate(minutes, a.warmup, len(counts), keep, prewarm)
                if c <= a.target * n and (best is None or idle * mb < best[0]):
                    best = (idle * mb / 60, i, keep, prewarm)
        plans.append(best)
    reachable = sorted(p for p in plans if p is not None)
    total = len(plans)
    p75 = math.ceil(0.75 * total)
    print(f"{total} functions run after the warm-up; {len(reachable)} can be kept at <= "
          f"{100 * a.target:.2f} % cold starts; the 75th percentile needs {p75}")
    cum = 0.0
    for n, (cost, i, keep, prewarm) in enumerate(reachable, 1):
        cum += cost
        if n >= p75 - 10 and n <= p75 + 5:
            shape = f"keep {keep} min" if prewarm == 0 else f"reload at {prewarm}, keep to {keep} min"
            print(f"{n:4d}  function {i:3d}  {cost:8.0f} MB.h ({shape})  cumulative {cum / 1000:6.1f} k MB.h")


if __name__ == "__main__":
    main()
