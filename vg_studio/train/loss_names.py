"""Reading a compiled loss as model.json stores it (`keras.Model.get_compile_config()`): which loss or weight
belongs to an output, and a loss's name. Keras-free, so that the diagnosis reads model.json without loading it."""

from __future__ import annotations


def for_output(values, i: int, name: str):
    """The value for the i-th output, named `name`, from one for all, a list, or a dict by output name (a loss, a
    loss weight)."""
    if isinstance(values, dict) and not ("class_name" in values or "config" in values):
        return values.get(name)
    if isinstance(values, (list, tuple)):
        return values[i] if i < len(values) else None
    return values


def loss_name(loss) -> str:
    """A compiled loss's name: a string, or a serialised Keras loss (its class, or a function's name)."""
    if isinstance(loss, dict):
        config = loss.get("config")
        if loss.get("class_name") == "function" and isinstance(config, str):
            return config
        loss = loss.get("class_name") or (config.get("name") if isinstance(config, dict) else None)
    return str(loss or "")
