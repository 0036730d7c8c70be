"""Watch your own Keras model: `GradientMonitor` (a callback for `model.fit`) and `fit_saved_model` (the core of
`vg-studio train --model`). See vg_studio/monitor/callback.py for how the probes get into a compiled model."""

from vg_studio.monitor.callback import GradientMonitor

__all__ = ["GradientMonitor", "fit_saved_model", "SavedModelError"]


def __getattr__(name):  # the saved-model path imports the data loaders only when used
    if name in ("fit_saved_model", "SavedModelError"):
        from vg_studio.monitor import saved

        return getattr(saved, name)
    raise AttributeError(name)
