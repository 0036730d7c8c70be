"""A small GAN on the 8×8 digits, written the way Keras's GAN examples write one: a generator and a discriminator,
each trained by its own optimizer in a custom `train_step` that returns `d_loss` and `g_loss`. GradientMonitor
probes both optimizers and shows every layer of both networks (`generator/…`, `discriminator/…`).

    python examples/tiny_gan.py [--out runs/tiny-gan] [--epochs 3]

TensorFlow backend (the step uses tf.GradientTape). Then: `vg-studio gui runs/tiny-gan`.
"""

import argparse

import keras
import tensorflow as tf

from vg_studio.data import load_dataset
from vg_studio.monitor import GradientMonitor

LATENT = 16


class GAN(keras.Model):
    def __init__(self):
        super().__init__(name="tiny_gan")
        self.generator = keras.Sequential([
            keras.Input((LATENT,)), keras.layers.Dense(64, name="project"), keras.layers.LeakyReLU(0.2),
            keras.layers.Reshape((4, 4, 4)),
            keras.layers.Conv2DTranspose(16, 3, strides=2, padding="same", name="upsample"),
            keras.layers.LeakyReLU(0.2),
            keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid", name="image")], name="generator")
        self.discriminator = keras.Sequential([
            keras.Input((8, 8, 1)), keras.layers.Conv2D(16, 3, strides=2, padding="same", name="conv"),
            keras.layers.LeakyReLU(0.2), keras.layers.Flatten(), keras.layers.Dense(1, name="logit")],
            name="discriminator")
        self.bce = keras.losses.BinaryCrossentropy(from_logits=True)

    def compile(self, d_optimizer, g_optimizer):
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

    def train_step(self, images):
        noise = keras.random.normal((tf.shape(images)[0], LATENT))
        with tf.GradientTape() as tape:
            fake_logits = self.discriminator(self.generator(noise))
            real_logits = self.discriminator(images)
            d_loss = (self.bce(tf.zeros_like(fake_logits), fake_logits)
                      + self.bce(tf.ones_like(real_logits), real_logits))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        with tf.GradientTape() as tape:
            fake_logits = self.discriminator(self.generator(noise))
            g_loss = self.bce(tf.ones_like(fake_logits), fake_logits)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        return {"d_loss": d_loss, "g_loss": g_loss}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/tiny-gan")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    data = load_dataset("digits")
    keras.utils.set_random_seed(0)
    gan = GAN()
    gan.compile(d_optimizer=keras.optimizers.Adam(2e-4), g_optimizer=keras.optimizers.Adam(2e-4))
    monitor = GradientMonitor(args.out, record_every=5)
    gan.fit(data.x_train, epochs=args.epochs, batch_size=32, callbacks=[monitor], verbose=2)
    history = monitor.history
    print("columns:", ", ".join(history.layer_names))
    print(f"loss recorded as {history.attrs['loss_source']}; {len(monitor.findings)} finding(s)")
    for finding in monitor.findings:
        print(finding)
    print(f"run written to {args.out} — try: vg-studio gui {args.out}")


if __name__ == "__main__":
    main()
