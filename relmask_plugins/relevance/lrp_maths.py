"""The Keras maths of the built-in LRP rules and of BatchNorm folding (registered by :mod:`.lrp_rules`).

With ``a`` a linear map's input, ``z = W a + b`` its output, ``a⁺ = max(a, 0)``, ``W⁺ = max(W, 0)`` …,
``stab(D) = D + ε·sign(D)`` (sign(0) = 1) and ``Mᵀ`` the transpose of the map with kernel ``M``:

* ``epsilon``:    D = W a + b;                 R_in = a ⊙ Wᵀs,  s = R / stab(D)
* ``z_plus``:     D = W⁺a⁺ + W⁻a⁻ + b⁺ ≥ 0;    R_in = a⁺ ⊙ W⁺ᵀs + a⁻ ⊙ W⁻ᵀs
* ``alpha_beta``: α × the z⁺ message − β × the same with D⁻ = W⁻a⁺ + W⁺a⁻ + b⁻ ≤ 0; D⁺ + D⁻ = W a + b, so the
                  forward pass computes the two denominators and adds them up instead of computing W a + b
* ``flat``:       D = 1ᵀ1;                     R_in = 1ᵀs  (uniform over the receptive field)
* ``w_square``:   D = (W²)ᵀ1;                  R_in = (W²)ᵀs
* ``zb``:         D = W a − W⁺l − W⁻h;         R_in = a ⊙ Wᵀs − l·W⁺ᵀs − h·W⁻ᵀs = (a − m) ⊙ Wᵀs + h'·|W|ᵀs with
                  m = (l + h)/2, h' = (h − l)/2 (bounds ``low`` ≤ a ≤ ``high``; only at the first linear layer,
                  and ``a`` is *that layer's* input: after any Rescaling/Normalization/BatchNormalization)

The bias terms above are the ``split`` convention (the default of z⁺ and αβ, Zennit's); ``include`` (the default
of ε, iNNvestigate's ``bias=True``) puts the whole b in every denominator, ``ignore`` (iNNvestigate's ``_IB`` and
``lrp.z_plus``, Zennit's ``zero_params='bias'``) none. For ε, ``split`` is ``include`` (its one denominator gets
both parts). flat, w² and zB never have a bias term.

Where a map's input is non-negative, a⁻ = 0 and z⁺/αβ leave its terms out (bit-identical, fewer maps): known
when the graph is built (``site.nonneg``), tested on the values elsewhere. D⁺ ≥ 0 and D⁻ ≤ 0 are stabilised by ±ε
without a sign test, the ε added with the bias (``Site.denominator``). flat, w² and zB's bound terms do not depend
on the input, so their denominators are computed on one sample and broadcast over the batch.
"""
from __future__ import annotations

from keras import layers as L
from keras import ops

from relmask.relevance.graph import Linear, affine_of
from relmask.relevance.lrp import Site


def _on_one_sample(part, kernel, a):
    """``kernel`` applied to an all-ones input of one sample: an input-independent denominator term."""
    return part.op(ops.ones_like(a[:1]), kernel)


def epsilon_message(site: Site, a, z, r):
    b = site.part.bias
    if b is not None and site.rule.bias_mode == "ignore":
        # D = W a = z − b: any sign (with a fused ReLU, z is relu(z), equal to z where relevance flows)
        return a * site.back(site.part.kernel, a, site.share(r, z - b, z))
    # where a fused ReLU lets relevance through, z > 0
    return a * site.back(site.part.kernel, a, site.share(r, z, z, positive=site.relu))


def _uniform(site: Site, a, z, r, kernel):
    """flat / w²: the denominator does not depend on ``a``; relevance goes back by ``kernel`` alone."""
    return site.back(kernel, a, site.share(r, _on_one_sample(site.part, kernel, a), z))


def flat_message(site: Site, a, z, r):
    return _uniform(site, a, z, r, ops.ones_like(site.part.kernel))


def w_square_message(site: Site, a, z, r):
    return _uniform(site, a, z, r, site.part.kernel * site.part.kernel)


def zb_message(site: Site, a, z, r):
    rule, part = site.rule, site.part
    wp, wn = site.signed_kernels()
    # D = W a − W⁺l − W⁻h: the bound terms (and the bias, taken out of z) are one sample's worth, subtracted once
    const = rule.low * _on_one_sample(part, wp, a) + rule.high * _on_one_sample(part, wn, a)
    s = site.share(r, z - (const if part.bias is None else const + part.bias), z)
    # a·Wᵀs − l·W⁺ᵀs − h·W⁻ᵀs with W± = (W ± |W|)/2: two transposed maps instead of three
    mid, half = (rule.low + rule.high) / 2.0, (rule.high - rule.low) / 2.0
    return (a - mid) * site.back(part.kernel, a, s) + half * site.back(ops.abs(part.kernel), a, s)


def _split(a, has_negative: bool):
    """(a⁺, a⁻); without ``has_negative`` ``a`` ≥ 0, so (a, None)."""
    return (ops.maximum(a, 0.0), ops.minimum(a, 0.0)) if has_negative else (a, None)


def _by_sign(site: Site, a, branch):
    """``branch(has_negative)``, decided when the graph is built where ``a`` is known to be ≥ 0, else on the values.

    Where a ≥ 0, a⁻ = 0 and its convolutions would add exact zeros, so they are skipped (bit-identical).
    """
    if site.nonneg:
        return branch(False)
    return ops.cond(ops.all(a >= 0.0), lambda: branch(False), lambda: branch(True))


def z_plus_message(site: Site, a, z, r):
    wp, wn = site.signed_kernels()

    def message(has_negative):
        ap, an = _split(a, has_negative)
        s = site.gate(r, z) / site.stabilise(site.denominator(ap, an, +1))
        out = ap * site.back(wp, a, s)
        return out + an * site.back(wn, a, s) if has_negative else out

    return _by_sign(site, a, message)


def alpha_beta_forward(site: Site, a):
    """The two αβ denominators, and the layer's output from them.

    (W⁺a⁺ + W⁻a⁻ + b⁺ + ε) + (W⁻a⁺ + W⁺a⁻ + b⁻ − ε) = W a + b (to rounding; other bias conventions add or
    subtract b, :meth:`Site.output_of`): computing the denominators in the forward pass, instead of W a + b there
    and the denominators in the backward pass, saves one linear map per layer.
    """

    def denominators(has_negative):
        ap, an = _split(a, has_negative)
        return site.denominator(ap, an, +1), site.denominator(ap, an, -1)

    dp, dn = _by_sign(site, a, denominators)
    out = site.output(site.output_of(dp, dn))
    return (dp, dn, out), out


def alpha_beta_message(site: Site, a, saved, r):
    rule = site.rule
    dp, dn, z = saved
    wp, wn = site.signed_kernels()
    rg = site.gate(r, z)
    sp, sn = rg / site.stabilise(dp), rg / site.stabilise(dn)

    def message(has_negative):
        # two shares go back; a⁺ collects α·W⁺ᵀs⁺ − β·W⁻ᵀs⁻ and a⁻ the mirror image (α, β applied on the input
        # side, which is smaller than the output wherever a layer widens the channels)
        ap, an = _split(a, has_negative)
        out = ap * (rule.alpha * site.back(wp, a, sp) - rule.beta * site.back(wn, a, sn))
        if has_negative:
            out = out + an * (rule.alpha * site.back(wn, a, sp) - rule.beta * site.back(wp, a, sn))
        return out

    return _by_sign(site, a, message)


def fold_batchnorm(part: Linear, linear_layer, bn) -> Linear:
    """``part`` (the last linear map of ``linear_layer``) followed by the BatchNormalization ``bn``, as one map."""
    scale, shift = affine_of(bn)
    kernel = part.kernel
    if isinstance(linear_layer, (L.DepthwiseConv1D, L.DepthwiseConv2D)):
        # output channel c*multiplier + m comes from kernel[..., c, m]
        kernel = kernel * ops.reshape(scale, kernel.shape[-2:])
    else:
        kernel = kernel * scale
    bias = shift if part.bias is None else part.bias * scale + shift
    return Linear(part.op, kernel, bias)
