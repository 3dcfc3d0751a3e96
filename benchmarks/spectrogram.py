"""Benchmark of the whale spectrogram front end: 30,000 Kaggle-sized clips (2 s at 2 kHz) in <= 30 s.

    .venv/bin/python benchmarks/spectrogram.py [--clips 30000] [--budget 30]

Random clips are generated in memory (the front end's cost does not depend on the content); prints clips/s and
exits non-zero when the batch takes longer than the budget.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from relmask_plugins.whale.spectrogram import SpectrogramConfig, spectrogram
from relmask_plugins.whale.synthetic import N_SAMPLES


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=30000, help="number of clips")
    ap.add_argument("--budget", type=float, default=30.0, help="seconds allowed for all clips")
    args = ap.parse_args(argv)
    waves = np.random.default_rng(0).uniform(-1, 1, size=(args.clips, N_SAMPLES)).astype(np.float32)
    config = SpectrogramConfig()
    start = time.perf_counter()
    spec = spectrogram(waves, config)
    seconds = time.perf_counter() - start
    print(f"spectrogram: {args.clips} clips -> {spec.shape} in {seconds:.2f} s = {args.clips / seconds:,.0f} clips/s "
          f"(n_fft={config.n_fft}, hop={config.hop}, fmax={config.fmax} Hz; budget {args.budget:.0f} s)")
    return 0 if seconds <= args.budget else 1


if __name__ == "__main__":
    sys.exit(main())
