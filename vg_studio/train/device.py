"""The compute device and library versions, for report.json, `vg-studio info` and the GUI's status bar."""

from __future__ import annotations

import platform

import keras
import numpy as np


def visible_gpus() -> list[str]:
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            names = []
            for gpu in tf.config.list_physical_devices("GPU"):
                details = tf.config.experimental.get_device_details(gpu)
                names.append(details.get("device_name", gpu.name))
            return names
        if backend == "jax":
            import jax

            return [d.device_kind for d in jax.devices() if d.platform == "gpu"]
        if backend == "torch":
            import torch

            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # a broken driver must not stop a CPU run
        return []
    return []


def describe_device() -> str:
    gpus = visible_gpus()
    return f"GPU: {gpus[0]}" if gpus else f"CPU ({platform.processor() or platform.machine()})"


def versions() -> dict:
    from vg_studio import __version__

    info = {"vg_studio": __version__, "keras": keras.__version__, "backend": keras.backend.backend(),
            "numpy": np.__version__, "python": platform.python_version()}
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        info["tensorflow"] = tf.__version__
    return info
