"""Built-in relevance methods: the gradient family, Grad-CAM, occlusion, LRP and tf-explain wrappers.

Registered exactly like a third-party plugin. The method classes import Keras lazily (inside
``relmask.relevance``), so listing plugins stays fast.
"""
from relmask import hookimpl


@hookimpl
def register_relevance_methods(register):
    from relmask.relevance.methods import builtin_methods

    for method in builtin_methods():
        register(method)
