"""Per-layer step per weight (RMS of Δw after each step) over the first 64 steps on the tuning digits, the batch
loss, and SDAGD's phase-I shares; writes runs/diag5-OPT-ACTDEPTH-sREPLICATE[-TAG].json.

    python benchmarks/sdagd_sweeps/diag_steps.py OPT DEPTH ACT REPLICATE ['{"attribute": value}' TAG]
"""

import json
import sys

import keras
import numpy as np

sys.path.insert(0, "benchmarks")
from bench_sdagd import tuning_model

opt_name = sys.argv[1]
depth = int(sys.argv[2])
act = sys.argv[3]
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
cparams = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
STEPS = 64
data, models, opt = tuning_model(opt_name, depth, act, seed, 2, cparams)
x = data.x_train.reshape(len(data.x_train), -1)
y = data.y_train
dead_pix = np.all(x == 0, axis=0)
rare_pix = (np.mean(x > 0, axis=0) < 0.05) & ~dead_pix
uv = models.user.trainable_variables
names = [v.path for v in uv]
print("vars", names, "always-zero pixels", int(dead_pix.sum()), "rare(<5%)", int(rare_pix.sum()), flush=True)


class Rec(keras.callbacks.Callback):
    def __init__(s):
        super().__init__()
        s.prev = [v.numpy().copy() for v in uv]
        s.rows = []
        s.k = 0

    def on_train_batch_end(s, batch, logs=None):
        s.k += 1
        if s.k > STEPS:
            return
        cur = [v.numpy() for v in uv]
        row = {"step": s.k, "loss": float(logs["loss"])}
        for n, a, b in zip(names, cur, s.prev):
            d = a - b
            row[n] = float(np.sqrt(np.mean(d * d)))
            if d.ndim == 2:
                row[n + ":med"] = float(np.median(np.abs(d)))
                if d.shape[0] == 784:
                    live = ~dead_pix
                    row[n + ":live"] = float(np.sqrt(np.mean(d[live] ** 2)))
                    row[n + ":common"] = float(np.sqrt(np.mean(d[~dead_pix & ~rare_pix] ** 2)))
        rep = getattr(opt, "diagnostic_scalars", None)
        if callable(rep) and s.k in (1, 8, 16, 32, 48, 64):
            row.update(
                {
                    k: float(keras.ops.convert_to_numpy(v))
                    for k, v in rep().items()
                    if "phase1" in k or "mu[" in k or "h[" in k
                }
            )
        s.rows.append(row)
        s.prev = [c.copy() for c in cur]


rec = Rec()
models.train.fit(x, y, batch_size=100, epochs=2, verbose=0, callbacks=[rec], shuffle=True)
out = f"runs/diag5-{opt_name}-{act}{depth}-s{seed}{'-' + sys.argv[6] if len(sys.argv) > 6 else ''}.json"
with open(out, "w") as fh:
    json.dump(rec.rows, fh)
# summary: per variable, mean of per-step RMS step over windows
for lo, hi in ((1, 8), (9, 20), (21, 32), (33, 64)):
    rows = [r for r in rec.rows if lo <= r["step"] <= hi]
    print(
        f"steps {lo:2d}-{hi:2d} loss {np.mean([r['loss'] for r in rows]):.3f} "
        + " ".join(f"{n.split('/')[0]}/{n.split('/')[-1][:4]} {np.mean([r[n] for r in rows]):.2e}" for n in names)
    )
    k0 = names[0]
    print(
        "   first kernel live",
        f"{np.mean([r[k0 + ':live'] for r in rows]):.2e}",
        "common",
        f"{np.mean([r[k0 + ':common'] for r in rows]):.2e}",
        "median|dw| per kernel",
        " ".join(f"{np.mean([r[n + ':med'] for r in rows]):.1e}" for n in names if n + ":med" in rows[0]),
    )
for r in rec.rows:
    if "sdagd_phase1_fraction[output]" in r:
        print(r["step"], {k: round(v, 3) for k, v in r.items() if "phase1" in k})
