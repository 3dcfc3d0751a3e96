"""relmask's LRP against iNNvestigate 2.1.2 and Zennit 1.0.0: time per batch of the same maps, as a ratio.

    python benchmarks/lrp_toolboxes.py [--rounds 3] [--cases a,b,...] [--timings FILE]
                                       [--innvestigate PYTHON] [--zennit PYTHON] [--stored-only] [--json FILE]

Every compatibility preset that ``tests/reference_toolboxes/generate.py`` checks (one row per reference case,
``innvestigate.*`` and ``zennit.*``) explains the same batch: 256 inputs of 32×32×3 through a small CNN
(Conv 16 → max-pool → Conv 32 → max-pool → Dense 64 → Dense 10, ReLUs, fixed weights; ``TIMING_MODEL`` there), the
relevance of the target logit. Each side reports the fastest of ``--rounds`` timed calls after one untimed call
(graph building, tracing): on a shared machine other processes only ever add time. relmask is timed before and
after the toolboxes and keeps the better time, so that a load change while they run does not land on one side
only. The ratio is the reference's time over relmask's: above 1, relmask is faster.

The toolboxes need their own environments (iNNvestigate: TensorFlow 2.14 / Keras 2; Zennit: PyTorch), so they
run in other processes. Where their interpreters exist (``--innvestigate``, ``--zennit``; defaults: the
virtualenvs of generate.py's docstring) this script runs them right after relmask, in this run, on this machine
("live"); otherwise, or with ``--stored-only``, it reads their timings from the newest
``benchmarks/results/*_toolboxes/timings.json`` (written by generate.py on the machine of that folder's date,
"stored") — a ratio against stored timings is only meaningful on the same machine under the same load. Processes
of different frameworks also differ in threading: TensorFlow and PyTorch each use every core by default.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from relmask._env import apply_defaults

apply_defaults()  # relmask's TensorFlow environment defaults (relmask._env), before anything imports TensorFlow

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reference_toolboxes import generate as gen  # noqa: E402

TOOLBOXES = ("innvestigate", "zennit")


def stored_timings(path: str | None = None) -> tuple[dict, str]:
    """({toolbox: {case: seconds}}, where they came from) from a timings.json (default: the newest)."""
    from relmask.errors import DataError
    from relmask.io import read_json

    if path is None:
        found = sorted((ROOT / "benchmarks" / "results").glob("*_toolboxes/timings.json"))
        if not found:
            return {}, "none stored"
        path = found[-1]
    data = read_json(path)
    if data is None or "toolboxes" not in data:
        raise DataError(f"{path}: not a timings.json of tests/reference_toolboxes/generate.py")
    return ({t: v["seconds"] for t, v in data["toolboxes"].items()},
            f"stored {Path(path).relative_to(ROOT) if Path(path).is_relative_to(ROOT) else path}")


def live_timings(pythons: dict[str, str], cases: list[str], rounds: int) -> dict[str, dict]:
    """{toolbox: {case: seconds}} measured now by each toolbox whose interpreter exists (timing only, no maps)."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        gen.write_job(folder, gen.job_arrays(), maps=False, timed=cases, rounds=rounds)
        for which, python in pythons.items():
            if not (python and Path(python).exists()):
                continue
            gen.run_worker(which, python, folder)
            out[which] = gen.json.loads((folder / f"times_{which}.json").read_text())["seconds"]
    return out


def table(rows: list[dict]) -> str:
    lines = ["| case | toolbox | relmask (s) | toolbox (s) | ratio (toolbox / relmask) | toolbox timing |",
             "|---|---|---:|---:|---:|---|"]
    for r in rows:
        ref = "—" if r["reference"] is None else f"{r['reference']:.3f}"
        ratio = "—" if r["reference"] is None else f"{r['reference'] / r['relmask']:.2f}"
        lines.append(f"| {r['case']} | {r['toolbox']} | {r['relmask']:.3f} | {ref} | {ratio} | {r['source']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=gen.TIMING_ROUNDS, help="timed calls per case and side")
    ap.add_argument("--cases", default=None, help="comma-separated cases (default: every timed case)")
    ap.add_argument("--timings", default=None, help="a stored timings.json (default: the newest)")
    ap.add_argument("--innvestigate", default="/work/venvs/innvestigate/bin/python")
    ap.add_argument("--zennit", default="/work/venvs/zennit/bin/python")
    ap.add_argument("--stored-only", action="store_true", help="do not run the toolboxes, use stored timings")
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args(argv)
    cases = gen.TIMED if args.cases is None else args.cases.split(",")
    unknown = sorted(set(cases) - set(gen.TIMED))
    if unknown:
        ap.error(f"--cases: unknown {unknown}; cases: {', '.join(gen.TIMED)}")
    mine = gen.relmask_seconds(gen.job_arrays(), cases, args.rounds)
    live = {} if args.stored_only else live_timings({"innvestigate": args.innvestigate, "zennit": args.zennit},
                                                   cases, args.rounds)
    if live:
        again = gen.relmask_seconds(gen.job_arrays(), cases, args.rounds)
        mine = {k: min(mine[k], again[k]) for k in cases}
    stored, where = stored_timings(args.timings)
    rows = []
    for case in cases:
        toolbox = case.split(".")[0]
        if toolbox in live:
            ref, source = live[toolbox].get(case), "live (this run)"
        else:
            ref, source = stored.get(toolbox, {}).get(case), where
        rows.append({"case": case, "toolbox": toolbox, "relmask": mine[case], "reference": ref, "source": source})
    import keras

    print(f"batch {gen.TIMING_BATCH} × {gen.TIMING_MODEL[0]}, fastest of {args.rounds} rounds, relmask on "
          f"{keras.backend.backend()}; ratio > 1: relmask is faster")
    print(table(rows))
    if args.json:
        from relmask.io import write_json

        write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
