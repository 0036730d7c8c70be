"""A deep sigmoid CNN trained with plain SGD: its gradients vanish, and VG Studio says so.

    python examples/deep_sigmoid_cnn.py [--out runs/deep-sigmoid-cnn] [--epochs 3]

Eight 3×3 convolutions with sigmoid activations on scikit-learn's 8×8 digits (offline). σ' is at most 0.25, so
every layer shrinks the gradient on its way back to the input: the first convolutions barely learn. The
GradientMonitor records per-layer gradient statistics inside the training step; the diagnosis names the layers.
Then look at it: `vg-studio diagnose runs/deep-sigmoid-cnn` or `vg-studio gui runs/deep-sigmoid-cnn`.
"""

import argparse

import keras

from vg_studio.data import load_dataset
from vg_studio.monitor import GradientMonitor


def build(depth: int = 8) -> keras.Model:
    inputs = keras.Input((8, 8, 1))
    x = inputs
    for i in range(1, depth + 1):
        x = keras.layers.Conv2D(16, 3, padding="same", activation="sigmoid", name=f"conv{i}")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name="deep_sigmoid_cnn")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/deep-sigmoid-cnn")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    data = load_dataset("digits")
    keras.utils.set_random_seed(0)
    model = build()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    monitor = GradientMonitor(args.out, record_every=5, probe_data=data.x_train[:128])
    model.fit(data.x_train, data.y_train, epochs=args.epochs, batch_size=32, validation_split=0.1,
              callbacks=[monitor], verbose=2)
    for finding in monitor.findings:
        print(finding)
    print(f"run written to {args.out} — try: vg-studio diagnose {args.out}")


if __name__ == "__main__":
    main()
