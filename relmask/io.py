"""Atomic file writes and JSON conversion: the one way relmask writes results, caches and figures; and
:func:`read_image`, the one way every domain reads an image file (bit depth and alpha handled)."""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the result should be an ordinary file
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    import io

    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return atomic_write(path, buf.getvalue())


def to_jsonable(obj: Any) -> Any:
    """NumPy scalars/arrays, tuples, paths and non-finite floats turned into plain JSON values."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    path = Path(path)
    if not path.exists():
        return default
    return json.loads(path.read_text())


_YAML_LOADER = None


def _yaml_loader():
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (safe_load keeps the last silently)."""
    global _YAML_LOADER
    if _YAML_LOADER is None:
        import yaml

        class UniqueKeyLoader(yaml.SafeLoader):
            def construct_mapping(self, node, deep=False):
                seen = set()
                for key_node, _ in node.value:
                    key = self.construct_object(key_node, deep=deep)
                    if isinstance(key, (str, int, float, bool, type(None))) and key in seen:
                        raise DuplicateKeyError(None, None, f"duplicate key {key!r} (given twice in one mapping)",
                                                key_node.start_mark)
                    seen.add(key)
                return super().construct_mapping(node, deep=deep)

        class DuplicateKeyError(yaml.constructor.ConstructorError):
            pass

        _YAML_LOADER = UniqueKeyLoader
    return _YAML_LOADER


def parse_yaml(text: str, what: str = "YAML", path: str | os.PathLike | None = None) -> Any:
    """Plain YAML (``yaml.safe_load``'s rules) with keys unique per mapping; a one-line
    :class:`relmask.errors.DataError` naming ``path`` (or ``what``), the line and the problem otherwise.

    The one reader of YAML: parameter files, presets, reproduce configs (:func:`read_yaml`) and ``-p`` values. A tag
    that would construct Python objects (``!!python/object``) is refused, as safe_load does, saying so.
    """
    import yaml

    from relmask.errors import DataError

    try:
        return yaml.load(text, Loader=_yaml_loader())  # not an unsafe load: a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if isinstance(exc, yaml.constructor.ConstructorError) and "duplicate key" not in problem:
            problem += " (only plain YAML is read: tags that build Python objects are refused)"
        raise DataError(f"not valid {what}: {at}{problem}", path) from None


def read_yaml(path: str | os.PathLike, what: str = "YAML file") -> Any:
    """:func:`parse_yaml` of a file, with one-line errors naming the file (and line) instead of tracebacks.
    Raises :class:`relmask.errors.DataError`."""
    from relmask.errors import DataError

    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DataError(f"{what} not found", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{what} cannot be read: {getattr(exc, 'strerror', None) or exc}", path) from None
    return parse_yaml(text, what, path)


# -- images ------------------------------------------------------------------------------------------------------
#: modes Pillow converts to 8-bit grey or RGB without loss of range (no alpha)
_EIGHT_BIT_MODES = ("1", "L", "P", "RGB", "CMYK", "YCbCr", "LAB", "HSV")
_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # Pillow's convert("L") weights


def _wide_pixels(im, grayscale: bool, path) -> tuple[np.ndarray, bool]:
    """(H, W, C) float32 in [0, 1] of an image with alpha, more than 8 bits or float values; alpha < 1 seen?"""
    from relmask.errors import DataError

    mode = im.mode
    had_alpha = False
    if mode in _ALPHA_MODES:
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3:]
        a = rgba[..., :3] * alpha  # over black
        had_alpha = bool((alpha < 1).any())
        return (a @ _LUMA)[..., None] if grayscale else a, had_alpha
    raw = np.asarray(im)
    if mode.startswith("I;16"):
        a = raw.astype(np.float32) / 65535.0
    elif mode == "I":
        # 32-bit integer pixels: a TIFF says its bit depth (tag 258); a PNG in this mode (older Pillow) is 16-bit
        bits = (getattr(im, "tag_v2", None) or {}).get(258, (16 if im.format == "PNG" else 32,))
        bits = int(bits[0] if isinstance(bits, tuple) else bits)
        if raw.min() < 0:
            raise DataError(f"{bits}-bit integer image with negative values (min {raw.min()})", path)
        a = (raw.astype(np.float64) / (2.0 ** bits - 1)).astype(np.float32)
    elif mode == "F":
        a = raw.astype(np.float32)
        if not np.isfinite(a).all():
            raise DataError("float image with NaN or infinite values", path)
        lo, hi = float(a.min()), float(a.max())
        if lo < 0 or hi > 255:
            raise DataError(f"float image with values in [{lo:g}, {hi:g}]; float images must hold values in [0, 1] "
                            "(or 0..255)", path)
        if hi > 1:
            a = a / 255.0
    else:
        raise DataError(f"unsupported image mode {mode!r}", path)
    a = a[..., None]
    return (a if grayscale else np.repeat(a, 3, axis=-1)), had_alpha


def _resize_float(a: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of each channel of a float (H, W, C) array, in float (no 8-bit rounding or clipping)."""
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(a[..., c]), mode="F")
                                .resize((size, size), Image.Resampling.BILINEAR)) for c in range(a.shape[-1])],
                    axis=-1)


def read_image(path: str | os.PathLike, size: int | None = None, grayscale: bool = True,
               notes: dict | None = None) -> np.ndarray:
    """One image file as float32 (H, W, 1) grey or (H, W, 3) RGB in [0, 1], scaled by its bit depth.

    8-bit images are converted by Pillow (grey = ITU-R 601-2 luma) and divided by 255; 16-bit images
    (``I;16``, e.g. 16-bit PNG) by 65535 and 32-bit integer images by their bit depth; float images (``F``,
    e.g. float TIFF) must hold values in [0, 1] (used as they are) or in [0, 255] (divided by 255). Transparent
    pixels are composited over black, and ``notes["alpha"]`` is set True when there were any. ``size`` resizes
    to size × size (bilinear; wide images in float, without 8-bit rounding); None keeps the image's size.
    Any problem raises :class:`relmask.errors.DataError` naming the file.
    """
    from PIL import Image, UnidentifiedImageError

    from relmask.errors import DataError

    try:
        with Image.open(path) as opened:
            im: Image.Image = opened  # converted below; the file closes with ``opened``
            if im.mode == "P" and "transparency" in im.info:
                im = im.convert("RGBA")
            if im.mode in _EIGHT_BIT_MODES:
                im = im.convert("L" if grayscale else "RGB")
                if size is not None and im.size != (size, size):
                    im = im.resize((size, size), Image.Resampling.BILINEAR)
                a = np.asarray(im, dtype=np.float32) / 255.0
            else:
                a, had_alpha = _wide_pixels(im, grayscale, path)
                if notes is not None and had_alpha:
                    notes["alpha"] = True
                if size is not None and a.shape[:2] != (size, size):
                    a = _resize_float(a, size)
                a = np.clip(a, 0.0, 1.0)  # bilinear weights are convex; this only removes float rounding
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError("image file not found", path) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"cannot read image ({type(exc).__name__}: {exc})", path) from None
    return a[..., None] if a.ndim == 2 else a
