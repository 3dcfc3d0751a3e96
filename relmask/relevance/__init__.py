"""The relevance engine: ``explain(model, x, method, targets=None, batch_size=64, **params)``.

The engine only: methods are registered through the ``register_relevance_methods`` hook, LRP rules and
canonizers (:mod:`relmask.relevance.rules`, run by :mod:`relmask.relevance.lrp`) through ``register_lrp_rules``
and ``register_canonizers``; the built-ins by ``relmask_plugins.relevance``.

:func:`explain` (in :mod:`relmask.relevance.explain`) checks the input, the targets and the parameters, cuts the
input into batches of ``batch_size`` (the last one padded, so compiled methods trace once) and returns a float32
array of ``x``'s shape. Targets reach a method as an int32 array; -1 ("the predicted class") only reaches methods
with ``resolves_predicted = True``, the others get the predicted class filled in.

Note: the package attribute ``relmask.relevance.explain`` is the function; the module is
``sys.modules["relmask.relevance.explain"]`` (``importlib.import_module`` finds it).
"""
from __future__ import annotations

from relmask.relevance.explain import explain
from relmask.relevance.precision import PRECISIONS

__all__ = ["PRECISIONS", "explain"]
