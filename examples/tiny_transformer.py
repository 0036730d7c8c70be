"""A tiny transformer encoder on digit images read as sequences of rows, watched by VG Studio.

    python examples/tiny_transformer.py [--out runs/tiny-transformer] [--epochs 4]

Each 8×8 digit (scikit-learn's, offline) is 8 tokens of 8 pixels. A convolutional stem embeds them (it also gives
the tokens their order), then two post-norm encoder blocks (MultiHeadAttention + residual + LayerNormalization,
a two-layer GELU feed-forward + residual + LayerNormalization) and a softmax classifier. Every layer with weights
— the attention, the normalizations, the feed-forward Dense layers — is one column of the gradient history.
"""

import argparse

import keras

from vg_studio.data import load_dataset
from vg_studio.monitor import GradientMonitor


def encoder_block(x, i: int, width: int = 32, heads: int = 4):
    attended = keras.layers.MultiHeadAttention(heads, width // heads, name=f"attention{i}")(x, x)
    x = keras.layers.LayerNormalization(name=f"norm{i}a")(keras.layers.Add(name=f"residual{i}a")([x, attended]))
    hidden = keras.layers.Dense(2 * width, activation="gelu", name=f"ffn{i}_in")(x)
    hidden = keras.layers.Dense(width, name=f"ffn{i}_out")(hidden)
    return keras.layers.LayerNormalization(name=f"norm{i}b")(keras.layers.Add(name=f"residual{i}b")([x, hidden]))


def build(blocks: int = 2, width: int = 32) -> keras.Model:
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Reshape((8, 8), name="rows")(inputs)
    x = keras.layers.Conv1D(width, 3, padding="same", name="embed")(x)
    for i in range(1, blocks + 1):
        x = encoder_block(x, i, width)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name="tiny_transformer")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/tiny-transformer")
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    data = load_dataset("digits")
    keras.utils.set_random_seed(0)
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    monitor = GradientMonitor(args.out, record_every=5, probe_data=data.x_train[:128])
    model.fit(data.x_train, data.y_train, epochs=args.epochs, batch_size=32, validation_split=0.1,
              callbacks=[monitor], verbose=2)
    print("columns:", ", ".join(monitor.history.layer_names))
    print(f"{len(monitor.findings)} finding(s)")
    for finding in monitor.findings:
        print(finding)
    print(f"run written to {args.out} — try: vg-studio gui {args.out}")


if __name__ == "__main__":
    main()
