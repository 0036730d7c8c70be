"""Wu's attention block (eq. 1–4), made only of Keras's own layers so an exported model loads in plain Keras.

A hidden layer's input is a flat feature vector x of length D. The block splits it into T tokens of D/T features
(for the first layer of an image network: the image rows), and then
    q = W_q x_t,  k = W_k x_t                      (eq. 2, per token, no bias)
    α = softmax(q kᵀ / √d_k)                       (eq. 3, a T×T matrix per example)
    a = α · x   ("input", eq. 4 as written)  or  α · v with v = W_v x_t  ("projected", eq. 2's v)
and the layer then computes h = σ(W a + b) on the flattened result (the caller's Dense + activation).
The 1/√d_k scale is a fixed `Rescaling` of q, because `keras.layers.Attention`'s own scale is a trained scalar.
"""

from __future__ import annotations

import math

import keras

from vg_studio.nn.params import choose_tokens  # noqa: F401  (re-exported)


def _new(name, factory):
    return factory()


def attention_block(x, *, tokens: int, value: str, name: str, key_dim: int | None = None, make=_new):
    """Apply the block to a flat tensor `x` of shape (batch, D); returns a flat (batch, D') tensor.
    `make(name, factory)` returns the layer called `name` (the builder passes a cache so that the training and
    the exported graph share one set of layers)."""
    features = x.shape[-1]
    width = features // tokens
    d_k = key_dim or max(1, min(width, 64))
    layers = keras.layers
    seq = make(f"{name}_tokens", lambda: layers.Reshape((tokens, width), name=f"{name}_tokens"))(x)
    q = make(f"{name}_query", lambda: layers.Dense(d_k, use_bias=False, name=f"{name}_query"))(seq)
    q = make(f"{name}_scale", lambda: layers.Rescaling(1.0 / math.sqrt(d_k), name=f"{name}_scale"))(q)
    k = make(f"{name}_key", lambda: layers.Dense(d_k, use_bias=False, name=f"{name}_key"))(seq)
    if value == "projected":
        v = make(f"{name}_value", lambda: layers.Dense(width, use_bias=False, name=f"{name}_value"))(seq)
    else:
        v = seq
    mixed = make(f"{name}_softmax", lambda: layers.Attention(name=f"{name}_softmax"))([q, v, k])
    return make(f"{name}_flat", lambda: layers.Flatten(name=f"{name}_flat"))(mixed)
