"""The relevance engine: ``explain(model, x, method, targets=None, batch_size=..., **params)``.

(Placeholder of the foundation issue; the relevance-engine issue fills it.)
"""
from __future__ import annotations

import numpy as np


def explain(model, x, method: str = "gradient", targets=None, batch_size: int = 64, progress=None,
            **params) -> np.ndarray:
    from ..plugins import registry

    m = registry("register_relevance_methods").get(method)
    resolved = m.resolve_params(params)
    return np.asarray(m.attribute(model, np.asarray(x, np.float32), targets, **resolved), np.float32)
