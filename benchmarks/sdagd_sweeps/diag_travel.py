"""Per-epoch held-out error, each kernel's travel ‖W − W₀‖/‖W₀‖ and, for SDAGD, the pre-activation radius's
shrink of each layer's sphere and the phase-I shares at the end of a 10-epoch run on the tuning digits.

    python benchmarks/sdagd_sweeps/diag_travel.py OPT DEPTH ACT REPLICATE ['{"attribute": value}']
"""

import json
import sys

import keras
import numpy as np

sys.path.insert(0, "benchmarks")
from bench_sdagd import tuning_model

opt_name, depth, act, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
cparams = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
data, models, opt = tuning_model(opt_name, depth, act, seed, 10, cparams)
x = data.x_train.reshape(len(data.x_train), -1)
y = data.y_train
xv = data.x_val.reshape(len(data.x_val), -1)
yv = data.y_val
uv = models.user.trainable_variables
w0 = [v.numpy().copy() for v in uv]
errs = []


class E(keras.callbacks.Callback):
    def on_epoch_end(s, e, logs=None):
        p = np.argmax(models.user.predict(xv, verbose=0, batch_size=500), 1)
        errs.append(100 * np.mean(p != yv))


models.train.fit(x, y, batch_size=100, epochs=10, verbose=0, callbacks=[E()])
print(opt_name, act, depth, seed, json.dumps(cparams), "val err/epoch", " ".join(f"{e:.2f}" for e in errs))
print(
    "  |W-W0|/|W0| per variable",
    " ".join(
        f"{v.path.split('/')[0][:8]}/{v.path[-4:]} {np.linalg.norm(v.numpy() - a) / max(np.linalg.norm(a), 1e-9):.3f}"
        for v, a in zip(uv, w0)
        if a.ndim == 2
    ),
)
if opt_name == "sdagd":
    for site in opt._sites:
        i = opt._get_variable_index(site.kernel)
        if i in opt._preactivation_scales:
            sc = keras.ops.convert_to_numpy(opt._sphere_scale(site.kernel))
            print(
                f"  end {site.group}: sphere shrink max(1,√s·R/R_z) median {np.median(sc):.2f} share>1 {np.mean(sc > 1):.2f}"
            )
    d = opt.diagnostic_scalars()
    print("  phase-I", {k[22:]: round(float(v), 2) for k, v in d.items() if k.startswith("sdagd_phase1_fraction[")})
    print(
        "  mu",
        {k[9:-1]: f"{float(v):.2e}" for k, v in d.items() if k.startswith("sdagd_mu[")},
        "h",
        {k[8:-1]: f"{float(v):.2e}" for k, v in d.items() if k.startswith("sdagd_h[")},
    )
