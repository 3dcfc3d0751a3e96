"""How often relmask's 95 % intervals of a paired effect cover the truth, with as few seeds as the presets use.

    python benchmarks/stats_coverage.py [--trials 1000] [--seeds 3,5,10] [--out FILE]

Per trial: ``n`` per-seed differences drawn from a normal distribution with mean 0 (a null effect; the
coverage of an interval of the mean does not depend on the true mean or the spread for normal data), then the
intervals :func:`relmask.scoring.stats.paired_difference` reports: the percentile bootstrap alone, Student's t alone,
and
relmask's union of both. Prints per ``n`` the share of trials whose interval contains the true mean, with a
binomial standard error, as JSON lines and a table. This is the measurement behind the choice in
:mod:`relmask.scoring.stats` never to report an interval narrower than t's.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from relmask.scoring.stats import paired_difference


def coverage(n: int, trials: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    hits = {"bootstrap": 0, "t": 0, "relmask": 0}
    for trial in range(trials):
        d = rng.normal(0.0, 1.0, n)
        e = paired_difference({s: float(x) for s, x in enumerate(d)}, {s: 0.0 for s in range(n)}, seed=trial)
        hits["bootstrap"] += e["boot_lo"] <= 0.0 <= e["boot_hi"]
        hits["t"] += e["t_lo"] <= 0.0 <= e["t_hi"]
        hits["relmask"] += e["lo"] <= 0.0 <= e["hi"]
    out = {"seeds": n, "trials": trials}
    for name, k in hits.items():
        p = k / trials
        out[name] = round(p, 4)
        out[f"{name}_se"] = round(float(np.sqrt(p * (1 - p) / trials)), 4)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--seeds", default="3,5,10", help="numbers of paired seeds, comma-separated")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON lines here")
    args = ap.parse_args(argv)
    rows = [coverage(int(n), args.trials) for n in args.seeds.split(",")]
    lines = [json.dumps(r) for r in rows]
    print("\n".join(lines))
    print(f"\n{'seeds':>5}  {'bootstrap':>16}  {'t':>16}  {'relmask (union)':>16}   nominal 0.95, {args.trials} trials")
    for r in rows:
        cells = "  ".join(f"{r[k]:.3f} ± {r[k + '_se']:.3f}".rjust(16) for k in ("bootstrap", "t", "relmask"))
        print(f"{r['seeds']:>5}  {cells}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
