#!/usr/bin/env python3
"""The side-by-side table of bench/replay/run.sh: live replay vs prewarm sim, per policy.

Usage: table.py OUT_DIR SPEED POLICY...  (reads OUT_DIR/live-P.json and OUT_DIR/sim-P.json)

Memory is compared as MB·h of trace time, every loaded instance (reserved, starting, ready
or draining) at the live template's 32 MB on both sides (run.sh passes --speed-memory-mb
32 to both), so it is instance-hours x 32: live integrates the orchestrator's per-template
instance counts (from the agents' reports) over the replay's wall time x speed; the
simulator's loaded_mb_h is on its compressed clock, so x speed.
Gaps are relative: (sim - live) / live. Origin: live, answers without the workload's
X-Prewarm-Queued-Ms (the origin fallback served them; counted warm); sim, arrivals no node
could take (not counted cold).
"""
import json
import os
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def gap(sim, live):
    if sim is None or live is None or live == 0:
        return None
    return (sim - live) / live


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def sim_row(r, prefix, sim, speed):
    if sim and sim.get("runs"):
        s = sim["runs"][0]
        r[prefix + "_cold"] = 100 * s["cold_rate"]
        r[prefix + "_p75"] = 100 * s["cold_rate_p75"]
        r[prefix + "_mem"] = s["loaded_mb_h"] * speed
        r[prefix + "_origin"] = s["origin"]


def main():
    out, speed, policies = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    rows = {}
    for p in policies:
        live = load(os.path.join(out, f"live-{p}.json"))
        r = {}
        if live:
            s = live["summary"]
            r["live_cold"] = 100 * s["cold_rate"]
            r["live_p75"] = 100 * s["cold_rate_p75"]
            r["live_mem"] = s["loaded_mb_h"]
            r["live_ttfb_p99"] = s["ttfb_ms"].get("p99")
            r["live_errors"] = s["errors"]
            r["live_answered"] = s["answered"]
            r["live_origin"] = s["unmarked"]
        sim_row(r, "sim", load(os.path.join(out, f"sim-{p}.json")), speed)
        sim_row(r, "simlive", load(os.path.join(out, f"simlive-{p}.json")), speed)
        try:
            with open(os.path.join(out, f"starts-{p}.txt")) as f:
                r["starts"] = " / ".join(f"{float(x):.2f}" for x in f.read().split(","))
        except (OSError, ValueError):
            pass
        if os.path.exists(os.path.join(out, f"crashed-{p}.txt")):
            r["crashed"] = True
        rows[p] = r

    def g(r, a, b):
        v = gap(r.get(a), r.get(b))
        return "-" if v is None else f"{100 * v:+.1f} %"

    head = ("policy", "live cold%", "sim cold%", "gap", "sim* cold%", "gap*", "live p75%",
            "sim p75%", "gap", "sim* p75%", "gap*", "live MB·h", "sim MB·h", "gap", "sim* MB·h",
            "gap*", "live p99 TTFB ms", "live start p50/p99 s", "answered/errors",
            "origin live/sim/sim*")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for p in policies:
        r = rows[p]
        cells = (p + (" (prewarm up crashed: live figures invalid)" if r.get("crashed") else ""),
                 fmt(r.get("live_cold"), ".2f"), fmt(r.get("sim_cold"), ".2f"),
                 g(r, "sim_cold", "live_cold"), fmt(r.get("simlive_cold"), ".2f"),
                 g(r, "simlive_cold", "live_cold"), fmt(r.get("live_p75"), ".2f"),
                 fmt(r.get("sim_p75"), ".2f"), g(r, "sim_p75", "live_p75"),
                 fmt(r.get("simlive_p75"), ".2f"), g(r, "simlive_p75", "live_p75"),
                 fmt(r.get("live_mem"), ".1f"), fmt(r.get("sim_mem"), ".1f"),
                 g(r, "sim_mem", "live_mem"), fmt(r.get("simlive_mem"), ".1f"),
                 g(r, "simlive_mem", "live_mem"), fmt(r.get("live_ttfb_p99"), ".1f"),
                 r.get("starts", "-"),
                 "-" if "live_answered" not in r
                 else f"{r['live_answered']}/{r['live_errors']}",
                 f"{r.get('live_origin', '-')}/{r.get('sim_origin', '-')}/"
                 f"{r.get('simlive_origin', '-')}")
        print("| " + " | ".join(cells) + " |")
    print()
    print("sim: --runtime oci (runc started alone, bench/instance_start) --start-contention "
          "host:CORES (concurrent starts share this machine's cores); sim*: --runtime "
          "measured:P50,P99, the start times the agents logged in that policy's live run")
    print("memory: MB·h of trace time, every loaded instance at 32 MB (instance-hours x 32; "
          "sim: loaded_mb_h x speed); gap = (sim - live) / live")

    def within(p, prefix):
        r = rows[p]
        return not r.get("crashed") and all(gap(r.get(prefix + m), r.get("live" + m)) is not None
                   and abs(gap(r.get(prefix + m), r.get("live" + m))) <= 0.10
                   for m in ("_cold", "_mem"))

    for prefix, what in (("sim", "sim"), ("simlive", "sim*")):
        ok = [p for p in policies if within(p, prefix)]
        print(f"{what} within 10 % of live on cold % and memory: "
              + (", ".join(ok) if ok else "none"))
    pr, kpa, hy = (rows.get("predictive", {}), rows.get("reactive-kpa", {}),
                   rows.get("hybrid-histogram", {}))
    if pr.get("live_ttfb_p99") and kpa.get("live_ttfb_p99"):
        ratio = pr["live_ttfb_p99"] / kpa["live_ttfb_p99"]
        if pr.get("live_mem") is not None and hy.get("live_mem"):
            mem = (f"; predictive's memory {pr['live_mem']:.1f} MB·h = "
                   f"{pr['live_mem'] / hy['live_mem']:.2f}x the hybrid's {hy['live_mem']:.1f}")
        else:
            mem = "; no live hybrid-histogram run to compare memory with"
        print(f"live p99 TTFB predictive / reactive-kpa: {ratio:.2f} "
              f"(goal <= 0.5 at no more than the hybrid's memory){mem}")


if __name__ == "__main__":
    main()
