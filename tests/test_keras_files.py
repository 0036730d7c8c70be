""".keras files built to stress every limit: refused in one line naming the file and the limit, within a second,
before anything is decompressed or allocated — and the weight count of every layer kind checked against Keras.

The stress files are small on disk: zip directories that declare huge members, configs built in memory."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.conftest import allocates_under
from vg_studio import limits
from vg_studio.keras_file import check_keras_file, layer_entries, layer_weights
from vg_studio.safeio import UnreadableFile

WEIGHTS = b"\x89HDF\r\n\x1a\n" + bytes(64)  # passes the magic check; never loaded in these tests


def layer(kind: str, input_shape=None, **config) -> dict:
    entry = {"module": "keras.layers", "class_name": kind, "config": {"name": config.pop("name", kind.lower()),
                                                                      **config}}
    if input_shape is not None:
        entry["build_config"] = {"input_shape": [None, *input_shape]}
    return entry


def sequential(*layers: dict) -> dict:
    return {"module": "keras", "class_name": "Sequential", "config": {"name": "m", "layers": list(layers)}}


def keras_zip(path: Path, config: dict | bytes, extra: dict | None = None, compression=zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as z:
        z.writestr("metadata.json", json.dumps({"keras_version": keras.__version__}))
        z.writestr("config.json", config if isinstance(config, bytes) else json.dumps(config))
        z.writestr("model.weights.h5", WEIGHTS)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return path


def declare_sizes(path: Path, members: set, size: int) -> None:
    """Rewrite the zip's central directory so that `members` declare `size` bytes unpacked (their data is still
    the few bytes written): what a crafted file can claim without holding it."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46: at + 46 + name_length].decode() in members:
            struct.pack_into("<I", data, at + 24, size)
        at = data.find(b"PK\x01\x02", at + 46)
    path.write_bytes(bytes(data))


def refused(path: Path, *needles: str) -> str:
    with allocates_under(64), pytest.raises(UnreadableFile) as info:  # refused before doing the work
        check_keras_file(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "recursion" not in message, message
    for needle in needles:
        assert needle in message, message
    return message


# ---- the zip: members and sizes, from its directory -----------------------------------------------------------
def test_more_members_than_the_limit_are_refused_from_the_end_record(tmp_path):
    path = keras_zip(tmp_path / "many.keras", sequential(layer("Dense", [4], units=2)),
                     {f"assets/{i}": b"" for i in range(limits.LIMITS.keras_members)})
    refused(path, f"a zip of {limits.LIMITS.keras_members + 3:,} members", "keras_members")


@pytest.mark.parametrize("members, size, needle", [
    (300, 63 * 2**20, "unpack to"),  # each just under the bomb floor: the total decides
    (5, 4_000_000_000, "unpack to"),
    (1, 3_000_000_000, "a decompression bomb"),  # within the total, 10⁷ times its packed size
    (40, 63 * 2**20, "a decompression bomb"),  # 2.5 GiB in all from a few kilobytes
])
def test_declared_sizes_are_refused_before_anything_is_decompressed(members, size, needle, tmp_path):
    names = {f"assets/blob{i}" for i in range(members)}
    path = keras_zip(tmp_path / "bomb.keras", sequential(layer("Dense", [4], units=2)),
                     {name: b"x" * 64 for name in sorted(names)}, zipfile.ZIP_DEFLATED)
    declare_sizes(path, names, size)
    refused(path, needle)


def test_a_config_larger_than_the_limit_is_refused_before_it_is_parsed(tmp_path):
    text = json.dumps(sequential(layer("Dense", [4], units=2))).encode()
    padded = text[:-1] + b" " * (limits.LIMITS.keras_config_bytes + 1 - len(text)) + b"}"
    path = keras_zip(tmp_path / "big config.keras", padded, compression=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 100_000
    refused(path, f"config.json is {limits.LIMITS.keras_config_bytes + 1:,} bytes", "keras_config_bytes")


@pytest.mark.parametrize("n", [60_000, 5_000])
@pytest.mark.parametrize("shape", ["flat", "wrapped", "nested models"])
def test_thousands_of_layers_are_refused_within_a_second(shape, n, tmp_path):
    if shape == "flat":
        config = sequential(*({"class_name": "Dense", "config": {"units": 1}} for _ in range(n)))
    elif shape == "wrapped":
        config = sequential(*({"class_name": "TimeDistributed", "config": {"layer": {
            "class_name": "Dense", "config": {"units": 1}}}} for _ in range(n // 2)))
    else:  # 60 models of 1,000 layers, each inside the next
        config = {"class_name": "Dense", "config": {"units": 1}}
        for _ in range(n // 1000):
            config = sequential(config, *({"class_name": "Dense", "config": {"units": 1}} for _ in range(999)))
    path = keras_zip(tmp_path / "deep.keras", config, compression=zipfile.ZIP_DEFLATED)
    refused(path, "layers", "the limit is 2,000 (VG_STUDIO_LIMITS keras_layers)")


def test_a_config_nested_ten_thousand_deep_is_refused_without_recursion(tmp_path):
    config: dict = {"class_name": "Dense", "config": {"units": 1}}
    text = json.dumps(config)
    for _ in range(10_000):
        text = '{"class_name": "Sequential", "config": {"layers": [' + text + "]}}"
    refused(keras_zip(tmp_path / "nested.keras", text.encode()), "levels deep; the limit is")


# ---- the weights a config declares ----------------------------------------------------------------------------
KINDS = [
    (keras.layers.Dense(7), (5,)),
    (keras.layers.Dense(7, use_bias=False), (5,)),
    (keras.layers.Conv1D(4, 3), (9, 2)),
    (keras.layers.Conv2D(4, (3, 2), groups=2), (8, 8, 6)),
    (keras.layers.Conv3D(2, 2), (4, 4, 4, 3)),
    (keras.layers.Conv2DTranspose(3, 2), (5, 5, 4)),
    (keras.layers.DepthwiseConv2D(3, depth_multiplier=2), (6, 6, 3)),
    (keras.layers.SeparableConv2D(5, 3, depth_multiplier=2), (6, 6, 3)),
    (keras.layers.Embedding(50, 6), (4,)),
    (keras.layers.SimpleRNN(5), (3, 4)),
    (keras.layers.LSTM(5), (3, 4)),
    (keras.layers.GRU(5), (3, 4)),
    (keras.layers.GRU(5, reset_after=False), (3, 4)),
    (keras.layers.ConvLSTM2D(3, 2), (2, 5, 5, 4)),
    (keras.layers.RNN(keras.layers.StackedRNNCells([keras.layers.LSTMCell(5), keras.layers.GRUCell(4)])), (3, 6)),
    (keras.layers.BatchNormalization(), (6,)),
    (keras.layers.Flatten(), (3, 4)),
    (keras.layers.Dropout(0.5), (3,)),
]


@pytest.mark.parametrize("built, shape", KINDS, ids=lambda v: type(v).__name__ if isinstance(v, keras.Layer) else "")
def test_each_layer_kind_counts_what_keras_allocates(built, shape):
    built.build((None, *shape))
    config = json.loads(keras.Sequential([keras.Input(shape), built]).to_json())
    counted = sum(layer_weights(entry, s) or 0 for entry, s in layer_entries(config))
    assert counted == built.count_params()


def test_wrapped_and_nested_layers_are_counted_like_keras(tmp_path):
    inner = keras.Sequential([keras.Input((6, 4)), keras.layers.Bidirectional(keras.layers.LSTM(3)),
                              keras.layers.Dense(2)], name="inner")
    inputs = keras.Input((6, 4))
    outputs = keras.layers.Concatenate()([inner(inputs), keras.layers.Flatten()(
        keras.layers.TimeDistributed(keras.layers.Dense(5))(inputs))])
    model = keras.Model(inputs, keras.layers.Dense(3)(outputs))
    model.save(tmp_path / "nested.keras")
    found = check_keras_file(tmp_path / "nested.keras")
    assert found.weights == model.count_params() and found.uncounted == []


@pytest.mark.parametrize("entry, weights", [
    (layer("LSTM", [20, 8], units=60_000), 4 * ((8 + 60_000) * 60_000 + 60_000)),
    (layer("GRU", [20, 8], units=40_000), 3 * ((8 + 40_000) * 40_000 + 2 * 40_000)),
    (layer("SimpleRNN", [20, 8], units=30_000), (8 + 30_000) * 30_000 + 30_000),
    (layer("Conv2D", [32, 32, 1024], filters=65_536, kernel_size=[3, 3]), 9 * 1024 * 65_536 + 65_536),
    (layer("Embedding", [10], input_dim=10**7, output_dim=100), 10**9),
    (layer("Bidirectional", [20, 8], layer=layer("LSTM", units=20_000)), 2 * 4 * ((8 + 20_000) * 20_000 + 20_000)),
    (layer("TimeDistributed", [20, 30_000], layer=layer("Dense", units=30_000)), 30_001 * 30_000),
    (layer("Dense", None, units=10**9), 10**9 + 10**9),  # no input shape: counted from its own size alone
])
def test_a_raised_size_in_any_kind_is_refused_with_the_count(entry, weights, tmp_path):
    path = keras_zip(tmp_path / "raised.keras", sequential(entry))
    refused(path, f"declare {weights:,} weights; the limit is {limits.LIMITS.model_params:,}", "model_params")


def test_a_kind_without_a_formula_is_counted_by_keras_without_allocating(tmp_path):
    from vg_studio.monitor.saved import SavedModelError, load_checked_model

    einsum = {"module": "keras.layers", "class_name": "EinsumDense",
              "config": {"name": "e", "equation": "abc,cd->abd", "output_shape": [None, 10**6]},
              "build_config": {"input_shape": [None, 5, 10**5]}}
    path = keras_zip(tmp_path / "einsum.keras", sequential(einsum))
    assert check_keras_file(path).uncounted  # the table has no formula: Keras counts it
    with allocates_under(64):
        with pytest.raises(SavedModelError, match=r"declare 100,000,000,000 weights"):
            load_checked_model(path)
        with keras.StatelessScope():  # nothing deferred was left behind to be created for real at a scope's end
            pass


# ---- classes and names --------------------------------------------------------------------------------------
def test_an_unregistered_custom_class_is_named_with_how_to_register_it(tmp_path):
    from vg_studio.monitor.saved import SavedModelError, load_checked_model

    custom = {"module": "mylib.layers", "class_name": "SuperDense", "registered_name": "mylib>SuperDense",
              "config": {"name": "super_dense", "units": 4}, "build_config": {"input_shape": [None, 3]}}
    path = keras_zip(tmp_path / "custom.keras", sequential(layer("Dense", [3], units=3), custom))
    with pytest.raises(SavedModelError) as info:
        load_checked_model(path)
    message = str(info.value)
    assert "mylib.layers.SuperDense" in message and "keras.saving.register_keras_serializable" in message
    assert "custom_objects" in message and "mylib>SuperDense" in message and "\n" not in message


def test_a_registered_custom_class_loads(tmp_path):
    from vg_studio.monitor.saved import load_checked_model

    @keras.saving.register_keras_serializable(package="vgtest")
    class Doubling(keras.layers.Layer):
        def call(self, x):
            return 2 * x

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), Doubling()])
    model.save(tmp_path / "registered.keras")
    loaded = load_checked_model(tmp_path / "registered.keras")
    x = np.ones((1, 3), "float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's name-scope rule")
def test_a_layer_name_tensorflow_refuses_is_one_inert_line(tmp_path):
    from vg_studio.monitor.saved import SavedModelError, load_checked_model

    name = "\x1b[2J\x1b]0;owned\x07<b>x\u202e"
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name=name)])
    model.save(tmp_path / "named.keras")
    with pytest.raises(SavedModelError) as info:
        load_checked_model(tmp_path / "named.keras")
    message = str(info.value)
    assert "not usable on the TensorFlow backend" in message and "\\x1b[2J\\x1b]0;owned\\x07<b>x\\u202e" in message
    assert message.isprintable()


def test_a_file_checked_twice_is_decompressed_once(tmp_path, monkeypatch):
    path = keras_zip(tmp_path / "m.keras", sequential(layer("Dense", [4], units=2)))
    calls = []
    monkeypatch.setattr(zipfile.ZipFile, "testzip", lambda self: calls.append(1))
    assert check_keras_file(path).weights == check_keras_file(path).weights == 10 and len(calls) == 1


@pytest.mark.parametrize("option, value, needle", [
    ("record_every", 10**12, "--record-every: must be an integer between 1 and 1,000,000, got 1,000,000,000,000"),
    ("epochs", 0, "--epochs: must be an integer between 1 and 100,000, got 0"),
    ("batch_size", "32", "--batch-size: must be an integer"),
])
def test_fit_options_out_of_range_name_the_flag(option, value, needle, tmp_path):
    from vg_studio.monitor.saved import FitOptions, SavedModelError, fit_saved_model

    with pytest.raises(SavedModelError, match=needle.replace("(", r"\(")):
        fit_saved_model(tmp_path / "never read.keras", "digits", tmp_path / "run", FitOptions(**{option: value}))
    assert not (tmp_path / "run").exists()


def test_an_end_record_understating_the_members_is_caught_by_the_directory_size(tmp_path):
    """The end record says 3 members, the directory holds 10,000: refused from the directory's declared size
    before Python parses an entry."""
    path = keras_zip(tmp_path / "liar.keras", sequential(layer("Dense", [4], units=2)),
                     {f"assets/{i:0100d}": b"" for i in range(10_000)})
    data = bytearray(path.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 3, 3)  # members on this disk, members in all
    path.write_bytes(bytes(data))
    refused(path, "its zip directory is", "keras_members")
