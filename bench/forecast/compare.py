#!/usr/bin/env python3
"""Prints the R and prewarm backtest JSON of one series side by side (stdlib only).

    compare.py R.json [PREWARM.json] [why prewarm is missing]
"""
import json
import sys

# R's figures stated in the forecaster issue (best of raw / log1p, best model).
ISSUE_R_BEST = {"wc98_10min": (0.715, "mstl_ets_log1p"), "wc98_1h": (0.648, "combo_log1p"),
                "peyton_daily": (0.444, "prophet_log1p")}

COLS = [("MASE", "mase", 6), ("sMAPE", "smape", 6), ("pb.5", ("pinball", "0.5"), 8),
        ("pb.9", ("pinball", "0.9"), 8), ("pb.95", ("pinball", "0.95"), 8),
        ("pb.99", ("pinball", "0.99"), 8), ("cov80", "coverage80", 5),
        ("cov98", "coverage98", 5), ("cpu_s", "cpu_s", 7), ("ok", "origins_ok", 4)]
NAMEW = 18


def get(m, key):
    if isinstance(key, tuple):
        v = m.get(key[0]) or {}
        return v.get(key[1])
    return m.get(key)


def fmt(v, w, key):
    if v is None:
        return "-".rjust(w)
    if key == "origins_ok":
        return str(v).rjust(w)
    if key in ("coverage80", "coverage98"):
        return f"{v:.2f}".rjust(w)
    if key in ("mase",):
        return f"{v:.3f}".rjust(w)
    if key == "smape":
        return f"{v:.1f}".rjust(w)
    return f"{v:.3g}".rjust(w)


def table(doc):
    head = "model".ljust(NAMEW) + "".join(" " + c[0].rjust(c[2]) for c in COLS)
    models = sorted(doc.get("models", []),
                    key=lambda m: (m.get("mase") is None, m.get("mase") or 0))
    rows = [m["name"][:NAMEW].ljust(NAMEW) + "".join(" " + fmt(get(m, c[1]), c[2], c[1]) for c in COLS)
            for m in models]
    return [head] + rows


def best(doc, prefix=""):
    ms = [m for m in doc.get("models", []) if m.get("mase") is not None and m["name"].startswith(prefix)]
    return min(ms, key=lambda m: m["mase"]) if ms else None


def find(doc, name):
    for m in doc.get("models", []):
        if m["name"] == name:
            return m
    return None


def main():
    r = json.load(open(sys.argv[1]))
    p = None
    if len(sys.argv) > 2 and sys.argv[2]:
        p = json.load(open(sys.argv[2]))
    why = sys.argv[3] if len(sys.argv) > 3 else ""
    pr = r["protocol"]
    print()
    print(f"== {r['series']}: step {pr['step_s']:g} s, periods {pr['periods']}, h={pr['horizon']}, "
          f"{pr['origins']} origins, train {pr['train']}"
          + (f", {pr['subseries']} sub-series" if pr.get("subseries", 1) > 1 else ""))
    if r.get("notes"):
        print(f"   R notes: {r['notes']}")
    rt = table(r)
    width = len(rt[0])
    if p:
        pt = table(p)
        pp = p.get("protocol", {})
        for k in ("step_s", "horizon", "origins", "train", "n", "origin_index"):
            if k in pp and k in pr and pp[k] != pr[k]:
                print(f"   WARNING: protocol differs on {k}: prewarm {pp[k]} vs R {pr[k]}")
        print("prewarm".center(width) + " | " + "R".center(width))
        for i in range(max(len(pt), len(rt))):
            a = pt[i] if i < len(pt) else ""
            b = rt[i] if i < len(rt) else ""
            print(a.ljust(width) + " | " + b)
    else:
        print("R".center(width))
        for line in rt:
            print(line)
    rb = best(r)
    ref = ISSUE_R_BEST.get(r["series"])
    if ref and rb:
        print(f"R best MASE here {rb['mase']:.3f} ({rb['name']}); issue's R figure {ref[0]} ({ref[1]})")
    if not p:
        print("prewarm backtest not available" + (f" ({why})" if why else ""))
        return
    pb = best(p)
    if pb and rb:
        print(f"best MASE: prewarm {pb['name']} {pb['mase']:.4f} vs R {rb['name']} {rb['mase']:.4f}, "
              f"ratio {pb['mase'] / rb['mase']:.4f}" + ("  (goal <= 1: met)" if pb["mase"] <= rb["mase"] else "  (goal <= 1: NOT met)"))
    pc, ps = best(p, "combo"), best(p, "snaive")
    if pc and ps:
        ok = "ok" if pc["mase"] <= ps["mase"] else "WORSE than snaive"
        print(f"combo vs snaive (prewarm): {pc['name']} {pc['mase']:.3f} vs {ps['name']} {ps['mase']:.3f}: {ok}")
    else:
        print("combo vs snaive (prewarm): combo or snaive row missing")
    rp = None
    if pb:
        rp = find(r, "prophet_log1p" if pb["name"].endswith("_log1p") else "prophet") or best(r, "prophet")
    if pb and rp and pb.get("cpu_s") and rp.get("cpu_s"):
        ratio = rp["cpu_s"] / pb["cpu_s"]
        print(f"CPU per fit: prewarm {pb['name']} {pb['cpu_s']:.4g} s vs R {rp['name']} {rp['cpu_s']:.4g} s: "
              f"R/prewarm {ratio:.1f}x (ratio prewarm/R {1 / ratio:.4f}; goal >= 20x)")
    else:
        print("CPU per fit: R prophet or prewarm cpu_s missing")


if __name__ == "__main__":
    main()
