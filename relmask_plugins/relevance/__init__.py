"""Built-in relevance methods (the gradient family, Grad-CAM, occlusion, LRP and tf-explain wrappers), and the
LRP rules and canonizer they use.

Registered exactly like a third-party plugin. The registered objects import Keras only when they first compute
(their implementation modules: ``gradients``, ``gradcam``, ``occlusion``, ``tfexplain``, ``lrp_maths``), so
listing plugins stays fast.
"""
from relmask import hookimpl
from relmask.plugin_system.components import RelevanceMethod

from .lrp import lrp_methods
from .lrp_rules import builtin_canonizers, builtin_rules
from .methods import GradCAM, Gradient, GradientXInput, IntegratedGradients, Occlusion, SmoothGrad, tfexplain_methods


def builtin_methods() -> list[RelevanceMethod]:
    return [Gradient(), GradientXInput(), IntegratedGradients(), SmoothGrad(), GradCAM(), Occlusion(), *lrp_methods(),
            *tfexplain_methods()]


@hookimpl
def register_relevance_methods(register):
    for method in builtin_methods():
        register(method)


@hookimpl
def register_lrp_rules(register):
    for rule in builtin_rules():
        register(rule)


@hookimpl
def register_canonizers(register):
    for canonizer in builtin_canonizers():
        register(canonizer)
