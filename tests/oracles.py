"""Slow, explicit oracles written the way the paper writes them: per-neuron sums and loops.

They share no code with the package: a layer is turned into its dense matrix by applying it
to basis vectors, and every LRP rule is a double loop over input neurons j and output
neurons k of that matrix.
"""

import numpy as np


def dense_matrix(layer, input_shape):
    """Matrix M (D_in, D_out) and bias vector (D_out,) of a linear-type layer, so that
    layer.forward(a) = a.reshape(N, -1) @ M + bias, found by applying it to basis vectors."""
    D = int(np.prod(input_shape))
    bias = layer.forward(np.zeros((1, *input_shape))).reshape(-1)
    basis = np.eye(D).reshape(D, *input_shape)
    return layer.forward(basis).reshape(D, -1) - bias, bias


def pos(v):
    return max(v, 0.0)


def neg(v):
    return min(v, 0.0)


def lrp_oracle(rule_name, a, W, b, R, **p):
    """R_j for one sample, by the explicit formula of the rule.

    a (D_in,), W (D_in, D_out), b (D_out,), R (D_out,).  Denominators that are exactly 0
    pass no relevance (the package's convention).
    """
    D_in, D_out = W.shape
    R_in = np.zeros(D_in)

    def share(numerators, denominator, Rk):
        if denominator == 0:
            return
        for j in range(D_in):
            R_in[j] += numerators[j] / denominator * Rk

    for k in range(D_out):
        w = W[:, k]
        if rule_name == "epsilon":            # R_j = a_j w_jk / (z_k + eps sign z_k) R_k
            z = sum(a[j] * w[j] for j in range(D_in)) + b[k]
            z += p.get("eps", 0.0) * (1.0 if z >= 0 else -1.0)
            share([a[j] * w[j] for j in range(D_in)], z, R[k])
        elif rule_name == "zplus":            # Eq. (2)
            share([a[j] * pos(w[j]) for j in range(D_in)], sum(a[j] * pos(w[j]) for j in range(D_in)), R[k])
        elif rule_name == "alphabeta":        # Eq. (1), positive/negative parts of a_j w_jk
            alpha, beta, split = p["alpha"], p["beta"], p.get("bias") == "split"
            plus = [pos(a[j] * w[j]) for j in range(D_in)]
            minus = [neg(a[j] * w[j]) for j in range(D_in)]
            share([alpha * v for v in plus], sum(plus) + (pos(b[k]) if split else 0.0), R[k])
            share([-beta * v for v in minus], sum(minus) + (neg(b[k]) if split else 0.0), R[k])
        elif rule_name == "zbox":             # Table 2, pixel intensities in [l, h]
            low, high = p["low"], p["high"]
            num = [a[j] * w[j] - low[j] * pos(w[j]) - high[j] * neg(w[j]) for j in range(D_in)]
            share(num, sum(num), R[k])
        elif rule_name == "wsquare":          # Table 2, real values
            share([w[j] ** 2 for j in range(D_in)], sum(w[j] ** 2 for j in range(D_in)), R[k])
        elif rule_name == "flat":             # W is the 0/1 connectivity: uniform over the field
            share([w[j] for j in range(D_in)], sum(w[j] for j in range(D_in)), R[k])
        elif rule_name == "gamma":            # w + gamma w^+, b + gamma b^+
            g = p["gamma"]
            num = [a[j] * (w[j] + g * pos(w[j])) for j in range(D_in)]
            share(num, sum(num) + b[k] + g * pos(b[k]), R[k])
        else:
            raise ValueError(rule_name)
    return R_in


def conv_oracle(a, W, b, stride, padding):
    """z[n,o,y,x] = sum_{c,i,j} a_pad[n, c, y*sh+i, x*sw+j] W[o,c,i,j] + b[o], by loops."""
    N, C = a.shape[:2]
    O, _, kh, kw = W.shape
    sh, sw = stride
    a_pad, (Ho, Wo) = _padded(a, (kh, kw), stride, padding, 0.0)
    z = np.zeros((N, O, Ho, Wo))
    for n in range(N):
        for o in range(O):
            for y in range(Ho):
                for x in range(Wo):
                    total = b[o]
                    for c in range(C):
                        for i in range(kh):
                            for j in range(kw):
                                total += a_pad[n, c, y * sh + i, x * sw + j] * W[o, c, i, j]
                    z[n, o, y, x] = total
    return z


def _padded(a, window, stride, padding, fill):
    """``a`` padded by ``padding`` with ``fill``, and the output size (Ho, Wo) of the windows."""
    (kh, kw), (sh, sw), (ph, pw) = window, stride, padding
    N, C, H, W = a.shape
    a_pad = np.full((N, C, H + 2 * ph, W + 2 * pw), fill)
    a_pad[:, :, ph:ph + H, pw:pw + W] = a
    return a_pad, ((H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1)


def pool_oracle(a, window, stride, padding, reduce, fill):
    """Apply ``reduce`` to each window's list of values, by loops over every output pixel."""
    N, C = a.shape[:2]
    (kh, kw), (sh, sw) = window, stride
    a_pad, (Ho, Wo) = _padded(a, window, stride, padding, fill)
    out = np.zeros((N, C, Ho, Wo))
    for n in range(N):
        for c in range(C):
            for y in range(Ho):
                for x in range(Wo):
                    values = [a_pad[n, c, y * sh + i, x * sw + j] for i in range(kh) for j in range(kw)]
                    out[n, c, y, x] = reduce(values)
    return out
