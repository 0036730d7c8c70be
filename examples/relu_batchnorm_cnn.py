"""The same deep CNN with ReLU, He initialization and BatchNormalization, trained with Adam: the gradient reaches
every layer, and VG Studio finds nothing to warn about.

    python examples/relu_batchnorm_cnn.py [--out runs/relu-bn-cnn] [--epochs 3]

Compare it with examples/deep_sigmoid_cnn.py in the app: `vg-studio gui runs/relu-bn-cnn`.
"""

import argparse

import keras

from vg_studio.data import load_dataset
from vg_studio.monitor import GradientMonitor


def build(depth: int = 8) -> keras.Model:
    inputs = keras.Input((8, 8, 1))
    x = inputs
    for i in range(1, depth + 1):
        x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False, kernel_initializer="he_normal",
                                name=f"conv{i}")(x)
        x = keras.layers.BatchNormalization(name=f"bn{i}")(x)
        x = keras.layers.ReLU(name=f"relu{i}")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name="relu_batchnorm_cnn")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/relu-bn-cnn")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    data = load_dataset("digits")
    keras.utils.set_random_seed(0)
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    monitor = GradientMonitor(args.out, record_every=5, probe_data=data.x_train[:128])
    model.fit(data.x_train, data.y_train, epochs=args.epochs, batch_size=32, validation_split=0.1,
              callbacks=[monitor], verbose=2)
    warnings = [f for f in monitor.findings if f.severity != "info"]
    print(f"{len(monitor.findings)} finding(s), {len(warnings)} warning(s) or worse")
    for finding in monitor.findings:
        print(finding)
    print(f"run written to {args.out} — try: vg-studio gui {args.out}")


if __name__ == "__main__":
    main()
