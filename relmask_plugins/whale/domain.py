"""The ``whale`` domain: sources ``synthetic`` (embedded generator) and ``kaggle`` (2013 Kaggle layout or a
folder of clips with a CSV). Both return a :class:`relmask.Dataset` of standardised log-magnitude spectrograms
``x`` (N, F, T, 1), frequency rows low to high, labels 1 = up-call.

Generated clips, decoded Kaggle clips and spectrograms are cached under ``cache_dir`` (default
``$RELMASK_CACHE/whale``, else ``~/.cache/relmask/whale``), each file written atomically and named by a hash of
everything it depends on, so a changed parameter or file never reuses a stale cache. Every cache read is
validated (checksum, float dtype, shape, finite; :mod:`relmask.running.cache`): a truncated or corrupt entry is
recomputed with a warning naming the file.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np

from relmask.errors import DataError, ParameterError
from relmask.io import to_jsonable
from relmask.pipeline.data import Dataset, fingerprint_arrays
from relmask.plugin_system.components import Domain, DomainDefaults, Param, Source
from relmask.running.cache import default_cache_dir as relmask_cache_dir
from relmask.running.cache import (
    float_arrays_check,
    hash_jsonable,
    load_cached_array,
    load_cached_arrays,
    save_cached_array,
    save_cached_arrays,
)

from . import audio, synthetic
from .spectrogram import STANDARDIZE, SpectrogramConfig, spectrogram, standardize

CLASS_NAMES = ["no_call", "upcall"]

SPECTROGRAM_PARAMS = (
    Param("n_fft", int, 256, "STFT window length in samples (Hann window; 256 = 128 ms at 2 kHz)", low=8),
    Param("hop", int, 64, "STFT hop in samples (64 = 32 ms)", low=1),
    Param("fmin", float, 0.0, "lowest frequency kept (Hz)", low=0),
    Param("fmax", float, 500.0, "highest frequency kept (Hz)", low=0, low_open=True),
    Param("standardize", str, "clip", "clip: each spectrogram to mean 0 / sd 1; row: each frequency row of "
          "each clip; none: raw log magnitude", choices=STANDARDIZE),
)
CACHE_PARAM = Param("cache_dir", (str, type(None)), None,
                    "cache folder (default $RELMASK_CACHE/whale or ~/.cache/relmask/whale)")

OBTAIN = ("Download train.zip from the Kaggle 'Whale Detection Challenge' "
          "(https://www.kaggle.com/c/whale-detection-challenge/data; Cornell's data, free for education and "
          "non-profit research), unzip it so that the folder holds train.csv and train/train1.aiff ..., and pass "
          "that folder as the path (data_path in the notebook).")


FLIP_PARAM = Param("flip_frequency", bool, False, "reverse the frequency axis (rows): True for images, whose "
                   "low frequencies are drawn at the bottom, i.e. in the last rows")
FEATURE_STANDARDIZE = Param("standardize", str, "clip", "clip: each spectrogram to mean 0 / sd 1; row: each "
                            "frequency row of each clip; none: values as stored", choices=STANDARDIZE)
FEATURES_OBTAIN = ("Pass the .npz file (features) or the folder of class sub-folders (images) as the path; relmask "
                   "downloads nothing.")


def default_cache_dir() -> Path:
    """The whale domain's cache folder: relmask's default (:func:`relmask.running.cache.default_cache_dir`) +
    ``whale``."""
    return relmask_cache_dir("whale")


def _cache_dir(cache_dir: str | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir else default_cache_dir()


def _clips_check(n: int | None = None, required=("labels",)):
    """Validation of a cached clip archive: float finite (N, samples) waveforms, N labels (and ids)."""
    waves = float_arrays_check(waveforms=None)

    def check(arrays: dict) -> str | None:
        problem = waves(arrays)
        if problem:
            return problem
        w = arrays["waveforms"]
        if w.ndim != 2 or (n is not None and len(w) != n):
            return f"array 'waveforms' has shape {w.shape}, expected ({n if n is not None else 'N'}, samples)"
        for name in ("labels", "ids"):
            if name in arrays and arrays[name].shape != (len(w),):
                return f"array {name!r} has shape {arrays[name].shape}, expected ({len(w)},)"
        missing = [k for k in required if k not in arrays]
        return f"array {missing[0]!r} missing" if missing else None

    return check


def cached_spectrogram(waveforms: np.ndarray, config: SpectrogramConfig, cache_dir: Path) -> np.ndarray:
    """:func:`spectrogram` cached under ``cache_dir/spectrograms`` by waveform fingerprint and config."""
    path = cache_dir / "spectrograms" / f"{hash_jsonable([fingerprint_arrays(waveforms), config.to_dict()])}.npy"
    shape = (len(waveforms), len(config.freqs()), len(config.times(waveforms.shape[1])))
    spec = load_cached_array(path, shape)
    if spec is None:
        spec = spectrogram(waveforms, config)
        save_cached_array(path, spec)
    return spec


def _config(sample_rate: int, n_fft, hop, fmin, fmax, standardize) -> SpectrogramConfig:
    try:
        return SpectrogramConfig(sample_rate, n_fft, hop, fmin, fmax, standardize)
    except ValueError as exc:
        raise ParameterError(f"domain 'whale': {exc}") from None


def make_dataset(waveforms, labels, ids, config: SpectrogramConfig, cache_dir: Path, extras=None,
                 report=None) -> Dataset:
    """Spectrogram dataset of validated waveforms; ``freqs``/``times`` are tuples (not per-sample arrays)."""
    spec = cached_spectrogram(waveforms, config, cache_dir)
    extras = {"waveforms": waveforms, "sample_rate": config.sample_rate,
              "freqs": tuple(float(f) for f in config.freqs()),
              "times": tuple(float(t) for t in config.times(waveforms.shape[1])),
              "spectrogram": config.to_dict(), **(extras or {})}
    ds = Dataset(spec[..., None], labels, ids, list(CLASS_NAMES), extras, dict(report or {}))
    ds.report.setdefault("class_counts", ds.class_counts())
    return ds


def clip_shape(sample_rate: int, params: dict) -> tuple[int, int, int]:
    """(frequencies, frames, 1): the spectrogram shape of a clip of the synthetic/Kaggle length, from a source's
    parameters (a ParameterError for a spectrogram configuration that cannot be computed)."""
    config = _config(sample_rate, **{p.name: params[p.name] for p in SPECTROGRAM_PARAMS})
    return len(config.freqs()), len(config.times(synthetic.N_SAMPLES)), 1


def load_synthetic(path, n_clips, seed, positive_share, snr_db_min, snr_db_max, max_confounders, cache_dir,
                   **spec_params) -> Dataset:
    if path is not None:
        raise ParameterError("whale source 'synthetic' generates its clips and takes no path; use source "
                             "'kaggle' for a data folder")
    gen = {"n_clips": n_clips, "seed": seed, "positive_share": positive_share,
           "snr_db": (snr_db_min, snr_db_max), "max_confounders": max_confounders}
    try:
        synthetic.check(**gen)
    except ValueError as exc:
        raise ParameterError(f"whale source 'synthetic': {exc}") from None
    root = _cache_dir(cache_dir)
    path = root / "synthetic" / f"{hash_jsonable([gen, synthetic.GENERATOR_VERSION])}.npz"
    data = load_cached_arrays(path, _clips_check(n_clips))
    if data is None:
        data = synthetic.generate(**gen)
        save_cached_arrays(path, data)
    waves, labels = data.pop("waveforms"), data.pop("labels")
    ids = np.asarray([f"synth{seed}_{i}" for i in range(len(labels))])
    report = {"source": "synthetic", "generator": gen, "generator_version": synthetic.GENERATOR_VERSION,
              "cache_file": str(path)}
    return make_dataset(waves, labels, ids, _config(synthetic.SAMPLE_RATE, **spec_params), root, data, report)


def _read_folder(audio_dir: Path, csv_path: Path, on_error: str, max_clips: int | None):
    """Validated waveforms, labels, names and a report of what was skipped or mismatched."""
    from tqdm.auto import tqdm

    labels = audio.read_labels(csv_path)
    files = {p.name: p for p in audio.list_clips(audio_dir)}
    unlabelled = sorted(set(files) - set(labels), key=audio.natural_key)
    missing = sorted(set(labels) - set(files), key=audio.natural_key)
    if on_error == "raise":
        if missing:
            raise DataError(f"{len(missing)} clips listed in {csv_path.name} have no file in {audio_dir}, "
                            f"first: {missing[0]!r} (on_error='skip' skips them)", audio_dir / missing[0])
        if unlabelled:
            raise DataError(f"clip has no label in {csv_path} ({len(unlabelled)} such files; "
                            "on_error='skip' skips them)", files[unlabelled[0]])
    names = sorted(set(files) & set(labels), key=audio.natural_key)
    if max_clips is not None:
        names = names[:max_clips]
    waves, kept, skipped = [], [], []
    for name in tqdm(names, desc="reading clips", unit="clip", disable=None):
        try:
            waves.append(audio.read_clip(files[name]))
            kept.append(name)
        except DataError as exc:
            if on_error == "raise":
                raise
            skipped.append({"file": str(files[name]), "problem": exc.problem})
    if not kept:
        raise DataError(f"no valid labelled clips ({len(skipped)} skipped)", audio_dir)
    report = {"source": "kaggle", "audio_dir": str(audio_dir), "labels_csv": str(csv_path),
              "n_listed": len(labels), "n_files": len(files), "skipped": skipped,
              "unlabelled_files": unlabelled, "missing_files": missing}
    return (np.stack(waves).astype(np.float32), np.asarray([labels[n] for n in kept], np.int64),
            np.asarray(kept), report)


def load_kaggle(path, on_error, max_clips, labels_csv, cache_dir, **spec_params) -> Dataset:
    if max_clips is not None and max_clips < 1:
        raise ParameterError(f"whale source 'kaggle': max_clips must be >= 1 or None, got {max_clips}")
    audio_dir, csv_path = audio.find_layout(path, labels_csv)
    root = _cache_dir(cache_dir)
    # the cache key covers every clip's name, size and mtime and the CSV's bytes: any change re-reads
    listing = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in audio.list_clips(audio_dir)]
    key = hash_jsonable([str(audio_dir.resolve()), listing, fingerprint_arrays(csv_path.read_bytes()),
                         on_error, max_clips])
    cache_file = root / "kaggle" / f"{key}.npz"
    data = load_cached_arrays(cache_file, _clips_check(required=("labels", "ids", "report")))
    if data is not None:
        waves, labels, names = data["waveforms"], data["labels"], data["ids"]
        report = json.loads(str(data["report"]))
    else:
        waves, labels, names, report = _read_folder(audio_dir, csv_path, on_error, max_clips)
        save_cached_arrays(cache_file, {"waveforms": waves, "labels": labels, "ids": names,
                                        "report": np.asarray(json.dumps(to_jsonable(report)))})
    report["cache_file"] = str(cache_file)
    return make_dataset(waves, labels, names, _config(audio.SAMPLE_RATE, **spec_params), root, None, report)


def _feature_dataset(x: np.ndarray, y: np.ndarray, ids: np.ndarray, class_names: list[str], flip_frequency: bool,
                     standardize_mode: str, report: dict) -> Dataset:
    """Precomputed (N, F, T[, 1]) spectrograms as a whale dataset: rows low to high frequency, standardised.

    Frequencies and times of precomputed features are unknown: ``freqs``/``times`` are bin indices.
    """
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] != 1:
        raise DataError(f"whale features must be (N, frequency, time[, 1]) spectrograms, got shape {x.shape}",
                        report.get("file") or report.get("folder"))
    if flip_frequency:  # image row order: low frequencies at the bottom of a picture are its last rows
        x = x[:, ::-1]
    spec = standardize(np.ascontiguousarray(x[..., 0], dtype=np.float32), standardize_mode)
    extras = {"freqs": tuple(float(f) for f in range(x.shape[1])),
              "times": tuple(float(t) for t in range(x.shape[2])), "feature_units": "bins"}
    ds = Dataset(spec[..., None], y, ids, class_names, extras, report)
    ds.report.setdefault("class_counts", ds.class_counts())
    return ds


def load_features(path, flip_frequency, standardize, **_) -> Dataset:
    """An ``.npz`` of precomputed spectrograms (see :func:`relmask.pipeline.data.load_feature_arrays`)."""
    from relmask.pipeline.data import load_feature_arrays

    ds = load_feature_arrays(path)
    named = "class_names" in ds.report["arrays"]  # else load_feature_arrays numbers the classes "0", "1" ...
    if ds.n_classes > 2 or (named and ds.n_classes != 2):
        raise DataError(f"whale features need 2 classes (0 no call, 1 up-call), the file has {ds.class_names}",
                        path)
    names = ds.class_names if named else CLASS_NAMES
    return _feature_dataset(ds.x, ds.y, ds.ids, list(names), flip_frequency, standardize, ds.report)


def load_images(path, classes, flip_frequency, standardize, on_error, **_) -> Dataset:
    """A folder of spectrogram images, one sub-folder per class (``<class>/*.png``), read as luminance.

    Pixels are scaled by bit depth (:func:`relmask.io.read_image`): 16-bit PNGs keep their full range.
    Colour-mapped renderings (viridis, magma …) become their luminance, which rises monotonically with the
    value for those perceptually uniform maps. All images must have one size: the most common one; an image of
    another size is a problem named by its file, whichever order the files come in.
    """
    from collections import Counter

    from relmask.io import read_image

    root = Path(path)
    if not root.is_dir():
        raise DataError("spectrogram image folder not found", root)
    folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    classes = list(classes) if classes else folders
    if len(classes) != 2:
        raise DataError(f"need exactly 2 class folders (no call, up-call; or pass classes=[negative, positive]), "
                        f"found {folders}", root)
    items, skipped = [], []
    for label, name in enumerate(classes):
        folder = root / name
        if not folder.is_dir():
            raise DataError(f"class folder {name!r} not found (folders: {folders})", root)
        for f in sorted(folder.glob("*.png"), key=lambda p: audio.natural_key(p.name)):
            try:
                items.append((read_image(f, size=None, grayscale=True)[..., 0], label, f"{name}/{f.name}", f))
            except DataError as exc:
                if on_error == "raise":
                    raise
                skipped.append({"file": str(f), "problem": exc.problem})
    if not items:
        raise DataError(f"no readable .png images under the class folders {classes}", root)
    shape = Counter(a.shape for a, *_ in items).most_common(1)[0][0]
    kept = []
    for a, label, sample_id, f in items:
        if a.shape != shape:
            problem = f"image size {a.shape} differs from the other images' {shape}"
            if on_error == "raise":
                raise DataError(problem, f)
            skipped.append({"file": str(f), "problem": problem})
            continue
        kept.append((a, label, sample_id))
    report = {"source": "images", "folder": str(root), "classes": classes, "n_loaded": len(kept),
              "skipped": skipped}
    return _feature_dataset(np.stack([k[0] for k in kept]), np.asarray([k[1] for k in kept]),
                            np.asarray([k[2] for k in kept]), list(classes), flip_frequency, standardize, report)


class WhaleDomain(Domain):
    name = "whale"
    description = ("North Atlantic right-whale up-call detection: 2-s, 2-kHz hydrophone clips as log-magnitude "
                   "spectrograms (Paper B, Interspeech 2019)")
    #: for experiments that run on any domain (faithfulness): Paper B's protocol on small synthetic sets
    defaults = DomainDefaults(source="synthetic", size_param="n_clips", n_samples=400, model="whale_cnn",
                              masker="negative", masker_params={"fraction": 0.3, "fill": "zero"},
                              score="fusion_auc", n_classes=len(CLASS_NAMES),
                              relevance_params={"occlusion": {"window": 12}}, synthetic=True)
    sources: ClassVar[dict[str, Source]] = {
        "synthetic": Source(
            "synthetic", "seeded generator of Kaggle-like clips: FM up-calls in coloured noise with confounders",
            load_synthetic,
            (Param("n_clips", int, 2000, "number of clips", low=1),
             Param("seed", int, 0, "generator seed", low=0),
             Param("positive_share", float, 0.23, "share of clips with an up-call (Kaggle: 0.234)", low=0, high=1),
             Param("snr_db_min", float, -14.0, "lowest call/confounder SNR in dB (40-300 Hz noise band)",
                   finite=True),
             Param("snr_db_max", float, 4.0, "highest call/confounder SNR in dB", finite=True),
             Param("max_confounders", int, 2, "at most this many confounding sounds per clip (0-4)", low=0,
                   high=len(synthetic.CONFOUNDERS)),
             CACHE_PARAM, *SPECTROGRAM_PARAMS), sample_shape=lambda path, **p: clip_shape(synthetic.SAMPLE_RATE, p)),
        "kaggle": Source(
            "kaggle", "2013 Kaggle Whale Detection Challenge layout (train/trainN.aiff + train.csv) or a folder "
            "of AIFF/WAV clips with a clip_name,label CSV", load_kaggle,
            (Param("on_error", str, "raise", "a bad clip or label mismatch: raise a DataError naming the file, "
                   "or skip it and list it in dataset.report", choices=("raise", "skip")),
             Param("max_clips", (int, type(None)), None, "read only the first N labelled clips (natural order)",
                   low=1),
             Param("labels_csv", (str, type(None)), None, "label CSV (relative to the path) if not train.csv "
                   "or the folder's only CSV"),
             CACHE_PARAM, *SPECTROGRAM_PARAMS),
            needs_path=True, obtain=OBTAIN, sample_shape=lambda path, **p: clip_shape(audio.SAMPLE_RATE, p)),
        "features": Source(
            "features", "precomputed spectrograms in an .npz (x (N, F, T), y, ids, class_names), e.g. a feature "
            "export of the Kaggle clips", load_features,
            (FLIP_PARAM, FEATURE_STANDARDIZE), needs_path=True, obtain=FEATURES_OBTAIN),
        "images": Source(
            "images", "a folder of spectrogram images, one sub-folder per class (<class>/*.png), as many public "
            "copies of the whale data are shared", load_images,
            (Param("classes", (list, type(None)), None, "the two class folders in label order (no call, up-call); "
                   "None = the sorted folder names"),
             FLIP_PARAM, FEATURE_STANDARDIZE,
             Param("on_error", str, "raise", "an unreadable or odd-sized image: raise a DataError naming the "
                   "file, or skip it and list it in dataset.report['skipped']", choices=("raise", "skip"))),
            needs_path=True, obtain=FEATURES_OBTAIN),
    }
