"""Bad input and faults a user can cause: each ends in one clear message naming the field or file, nothing lost.

The table of cases is docs/hardening.md. CLI cases run `vg-studio` as a subprocess and check what a user sees:
a non-zero exit, exactly one `vg-studio: error:` line on stderr, and no traceback.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import allocates_under, make_tiny_spec
from vg_studio import edits
from vg_studio.data import DatasetError, load_dataset
from vg_studio.spec import ExperimentSpec, SpecError, example_spec
from vg_studio.train.history_file import write_h5
from vg_studio.train.runstore import History, RunStoreError, load_run, open_run

ROOT = Path(__file__).resolve().parents[1]
ODD_NAME = "dir with spaces — ü ß 日本"  # every file case below lives under such a path


@pytest.fixture
def odd(tmp_path) -> Path:
    path = tmp_path / ODD_NAME
    path.mkdir()
    return path


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run([sys.executable, "-m", "vg_studio.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=ROOT)


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("vg-studio: error:")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


# ---- specs ---------------------------------------------------------------------------------------------------
def _spec_with(**patch) -> dict:
    data = example_spec().to_dict()
    for dotted, value in patch.items():
        node = data
        *parents, last = dotted.split("__")
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value
    return data


BAD_SPECS = {
    # name: (file text, words the one-line message must contain)
    "malformed JSON": ('{"name": "x",', "not valid JSON"),
    "empty file": ("", "not valid JSON"),
    "JSON list": ("[1, 2]", "must be a JSON object"),
    "nested 100k deep": ("[" * 100_000, "nested 100000 levels deep"),
    "wrong type": (json.dumps(_spec_with(training__epochs="ten")), "training.epochs"),
    "null field": (json.dumps(_spec_with(network__layers=None)), "network.layers"),
    "layer not an object": (json.dumps(_spec_with(network__layers=[3])), "network.layers[0]"),
    "unknown field": (json.dumps({"netwrok": {}}), "netwrok: unknown field"),
    "unknown activation": (json.dumps(_spec_with(network__layers__0__activation="swishy")), "swishy"),
    "unknown optimizer": (json.dumps(_spec_with(optimizer__name="adamw2")), "optimizer.name"),
    "unknown dataset": (json.dumps(_spec_with(data__dataset="imagenet")), "data.dataset"),
    "unknown initializer": (json.dumps(_spec_with(network__layers__1__initializer="ones")), "initializer"),
    "future schema": (json.dumps(_spec_with(schema_version=99)), "newer than this VG Studio"),
    "schema not int": (json.dumps(_spec_with(schema_version="1")), "schema_version"),
    "absurd units": (json.dumps(_spec_with(network__layers__0__units=10**9)), "units"),
    "absurd depth": (json.dumps(_spec_with(network__layers=[{}] * 201)), "at most 200"),
    "zero units": (json.dumps(_spec_with(network__layers__0__units=0)), "units: must be >= 1"),
    "1e400 epochs": ('{"training": {"epochs": 1e400}}', "training.epochs"),
    "NaN learning rate": ('{"optimizer": {"learning_rate": NaN}}', "optimizer.learning_rate"),
    "Infinity learning rate": ('{"optimizer": {"learning_rate": Infinity}}', "optimizer.learning_rate"),
    "integer beyond float": ('{"optimizer": {"learning_rate": 1' + "0" * 400 + "}}", "optimizer.learning_rate"),
    "seed beyond 2**32": (json.dumps(_spec_with(training__seed=2**40)), "training.seed"),
    "negative batch": (json.dumps(_spec_with(training__batch_size=-5)), "training.batch_size"),
    "dropout 1": (json.dumps(_spec_with(network__layers__0__dropout=1.0)), "dropout"),
    "two clips": (json.dumps(_spec_with(optimizer__clipnorm=1.0, optimizer__clipvalue=1.0)), "at most one"),
    "unknown hyperparameter": (json.dumps(_spec_with(optimizer__params={"beta_9": 1})), "optimizer.params.beta_9"),
    "mistyped hyperparameter": (json.dumps({"optimizer": {"name": "sgd_momentum", "params": {"momentum": "x"}}}),
                                "optimizer.params.momentum"),
    "flag given a number": (json.dumps({"optimizer": {"name": "sgd_momentum", "params": {"nesterov": 3}}}),
                            "optimizer.params.nesterov"),
    "limit too small": (json.dumps(_spec_with(data__options={"limit": 3})), "data.options.limit"),
    "seed option text": (json.dumps(_spec_with(data__options={"seed": "x"})), "data.options.seed"),
    "image size garbage": (json.dumps(_spec_with(data__options={"image_size": "big"})), "data.options.image_size"),
    "lone surrogate name": ('{"name": "\\ud800"}', "name"),
    "control chars in name": (json.dumps({"name": "a\nb"}), "name"),
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_bad_spec_file_is_one_spec_error_naming_the_field(case, odd):
    text, needle = BAD_SPECS[case]
    path = odd / "bad spec.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    with pytest.raises(SpecError) as info:
        ExperimentSpec.load(path)
    message = str(info.value)
    assert "\n" not in message and needle in message and str(path) in message


@pytest.mark.parametrize("content", [b"\xff\xfe\x00binary", None])
def test_unreadable_spec_files(content, odd):
    path = odd / "spec.json"
    if content is None:
        path.mkdir()  # a folder where a file should be
    else:
        path.write_bytes(content)
    with pytest.raises(SpecError, match="cannot read"):
        ExperimentSpec.load(path)


def test_missing_fields_take_defaults_so_old_specs_load():
    spec = ExperimentSpec.from_json('{"network": {"layers": [{"units": 5}]}}')
    assert spec.network.layers[0].units == 5 and spec.training == ExperimentSpec().training


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20)
FIELD_PATHS = ["name", "loss", "schema_version", "data", "data__dataset", "data__options", "network",
               "network__layers", "network__layers__0", "network__layers__0__units", "network__layers__0__activation",
               "network__layers__0__dropout", "network__output_activation", "optimizer", "optimizer__name",
               "optimizer__learning_rate", "optimizer__params", "optimizer__clipnorm", "training",
               "training__epochs", "training__batch_size", "training__seed", "training__validation_split",
               "monitoring__record_every", "monitoring__probe_batch_size", "diagnostics"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patches=st.dictionaries(st.sampled_from(FIELD_PATHS), JSON, max_size=3))
def test_fuzzed_field_values_load_or_raise_spec_error(patches):
    try:
        data = _spec_with(**patches)
    except (TypeError, IndexError, KeyError, ValueError):
        return  # the patch path itself no longer exists (a parent was replaced by a scalar)
    try:
        spec = ExperimentSpec.from_dict(data)
    except SpecError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert spec.validate() == []
    assert ExperimentSpec.from_json(spec.to_json()) == spec  # whatever loads, saves and reloads unchanged


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200) | JSON.map(json.dumps))
def test_fuzzed_text_loads_or_raises_spec_error(text):
    try:
        ExperimentSpec.from_json(text)
    except SpecError as exc:
        assert "\n" not in str(exc)


def test_a_network_that_cannot_fit_is_refused_before_allocation_with_the_estimate(tmp_path):
    from vg_studio.train.trainer import Trainer

    spec = make_tiny_spec(layers=200, units=65536)
    with pytest.raises(SpecError, match=r"needs about [\d.]+ GiB"):
        Trainer(spec, run_dir=tmp_path / "run").run()
    assert not (tmp_path / "run" / "model.keras").exists()


# ---- data files ----------------------------------------------------------------------------------------------
def _npz_arrays(n=40, classes=3) -> dict:
    rng = np.random.default_rng(0)
    return {"x_train": rng.random((n, 4, 4)), "y_train": np.arange(n) % classes,
            "x_test": rng.random((10, 4, 4)), "y_test": np.arange(10) % classes}


def _write_npz(path: Path, case: str) -> None:
    arrays = _npz_arrays()
    if case == "truncated":
        np.savez(path, **arrays)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif case == "foreign (text)":
        path.write_text("x_train,y_train\n1,2\n")
    elif case == "foreign (a .keras zip)":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("config.json", "{}")
    elif case == "pickled objects":
        arrays["x_train"] = np.array([{"evil": 1}] * 40, dtype=object)
        np.savez(path, **arrays)
    elif case == "missing arrays":
        np.savez(path, x_train=arrays["x_train"])
    elif case == "NaN pixels":
        arrays["x_train"][0, 0, 0] = np.nan
        np.savez(path, **arrays)
    elif case == "length mismatch":
        arrays["y_train"] = arrays["y_train"][:-1]
        np.savez(path, **arrays)
    elif case == "one class":
        arrays["y_train"][:] = 0
        arrays["y_test"][:] = 0
        np.savez(path, **arrays)
    elif case == "text labels":
        arrays["y_train"] = np.array(["cat"] * 40)
        np.savez(path, **arrays)
    elif case == "shape mismatch":
        arrays["x_test"] = np.zeros((10, 5, 5))
        np.savez(path, **arrays)
    else:
        raise AssertionError(case)


NPZ_CASES = ["truncated", "foreign (text)", "foreign (a .keras zip)", "pickled objects", "missing arrays",
             "NaN pixels", "length mismatch", "one class", "text labels", "shape mismatch"]


@pytest.mark.parametrize("case", NPZ_CASES)
def test_bad_npz_is_one_dataset_error_naming_the_file(case, odd):
    path = odd / "data set.npz"
    _write_npz(path, case)
    with pytest.raises(DatasetError) as info:
        load_dataset(f"npz:{path}")
    assert str(path) in str(info.value)


def _image_folder(root: Path, case: str) -> None:
    from PIL import Image

    for c, name in enumerate(["cat ü", "dog 日"]):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(4):
            size = (8 + i, 6 + c) if case == "mixed sizes" else (8, 8)
            mode = "RGB" if case == "mixed modes" and i == 0 else "L"
            Image.new(mode, size, color=(i * 40, 0, 0) if mode == "RGB" else i * 40).save(folder / f"{i}.png")
    if case == "broken image":
        (root / "cat ü" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    elif case == "truncated image":
        data = (root / "dog 日" / "0.png").read_bytes()
        (root / "dog 日" / "0.png").write_bytes(data[:30])
    elif case == "empty class":
        (root / "bird").mkdir()
    elif case == "one class":
        import shutil

        shutil.rmtree(root / "dog 日")


@pytest.mark.parametrize("case, ok", [("mixed sizes", True), ("mixed modes", True), ("broken image", False),
                                      ("truncated image", False), ("empty class", False), ("one class", False)])
def test_image_folders(case, ok, odd):
    root = odd / "images"
    _image_folder(root, case)
    if ok:
        data = load_dataset(f"folder:{root}")
        assert data.num_classes == 2 and len(data.x_train) + len(data.x_test) == 8
        assert data.x_train.shape[1:] == data.x_test.shape[1:]  # one size for all
        return
    with pytest.raises(DatasetError) as info:
        load_dataset(f"folder:{root}")
    assert str(root) in str(info.value)


def test_missing_dataset_files(odd):
    for name in (f"npz:{odd / 'nope.npz'}", f"folder:{odd / 'nope'}"):
        with pytest.raises(DatasetError, match="not found"):
            load_dataset(name)


# ---- data files: sizes, counts and file kinds (vg_studio.limits), each refused within a second --------------------
def _declare_unpacked_size(path: Path, member: str, size: int) -> None:
    """Rewrite a zip's directory so `member` claims `size` unpacked bytes (what a decompression bomb declares)."""
    import struct

    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    struct.pack_into("<I", data, info.header_offset + 22, size)  # local header: uncompressed size
    central = data.rfind(b"PK\x01\x02" + data[info.header_offset + 4: info.header_offset + 6])
    name = member.encode()
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        n = struct.unpack_from("<H", data, central + 28)[0]
        if bytes(data[central + 46: central + 46 + n]) == name:
            struct.pack_into("<I", data, central + 24, size)
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))


def _npy_member(shape, descr="<f8", payload=b"") -> bytes:
    import io

    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": descr, "fortran_order": False, "shape": shape})
    return out.getvalue() + payload


def _bad_npz(path: Path, case: str) -> None:
    arrays = _npz_arrays()
    if case == "label 10**9":
        arrays["y_train"][3] = 10**9
    elif case == "labels beyond class_names":
        arrays["class_names"] = np.array(["cat", "dog"])  # three classes in y
    elif case == "class_names not text":
        arrays["class_names"] = np.arange(3)
    elif case == "one training example":
        arrays["x_train"], arrays["y_train"] = arrays["x_train"][:1], arrays["y_train"][:1]
    elif case == "one class to train on":
        arrays["y_train"][:] = 1
    elif case == "labels not one-hot":
        arrays["y_train"] = np.random.default_rng(0).random((40, 3))
    elif case == "complex pixels":
        arrays["x_train"] = arrays["x_train"] * 1j
    elif case == "5-d inputs":
        arrays["x_train"], arrays["x_test"] = np.zeros((40, 2, 2, 2, 2)), np.zeros((10, 2, 2, 2, 2))
    elif case == "no features":
        arrays["x_train"], arrays["x_test"] = np.zeros((40, 0)), np.zeros((10, 0))
    elif case == "fractional labels":
        arrays["y_train"] = arrays["y_train"] + 0.5
    np.savez(path, **arrays)
    if case == "unpacks to 1 GiB":
        _declare_unpacked_size(path, "x_train.npy", 2**30 + 4096)
    elif case in ("header declares 1 TB", "200 members"):
        with zipfile.ZipFile(path, "a") as z:
            if case == "200 members":
                for i in range(200):
                    z.writestr(f"extra_{i}.npy", _npy_member((1,), payload=bytes(8)))
            else:
                z.writestr("class_names.npy", _npy_member((10**12,)))


BAD_NPZ_LIMITS = {
    # case: words the one-line message must contain
    "label 10**9": ("1,000,000,000", "classes"),
    "labels beyond class_names": ("class_names names only 2 classes",),
    "class_names not text": ("class_names",),
    "one training example": ("1 training example",),
    "one class to train on": ("every training example is of class 1",),
    "labels not one-hot": ("not one-hot",),
    "complex pixels": ("x_train", "non-numeric"),
    "5-d inputs": ("x_train", "5 dimensions"),
    "no features": ("no values",),
    "fractional labels": ("y_train", "fractions"),
    "unpacks to 1 GiB": ("npz_bytes",),
    "header declares 1 TB": ("class_names", "declares shape"),
    "200 members": ("204 arrays", "npz_members"),
}


@pytest.mark.parametrize("case", list(BAD_NPZ_LIMITS))
def test_npz_beyond_the_limits_is_refused_fast_with_one_line(case, odd):
    path = odd / "data set.npz"
    _bad_npz(path, case)
    with allocates_under(16), pytest.raises(DatasetError) as info:
        load_dataset(f"npz:{path}")
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    for needle in BAD_NPZ_LIMITS[case]:
        assert needle in message, message


@pytest.mark.parametrize("options, needle", [({"limit": 10}, "data.options.limit: every training example is of"),
                                              ({}, "training.validation_split: 0.5 of 3 training examples leaves 1")])
def test_a_limit_or_split_that_leaves_nothing_to_learn_is_refused(options, needle, odd):
    path = odd / "sorted.npz"
    arrays = _npz_arrays()
    order = np.argsort(arrays["y_train"], kind="stable")  # a file sorted by class: the first 10 are all class 0
    keep = order if options else np.array([0, 1, 2])
    np.savez(path, **{**arrays, "x_train": arrays["x_train"][keep], "y_train": arrays["y_train"][keep]})
    with pytest.raises(DatasetError, match=needle):
        load_dataset(f"npz:{path}", options).with_validation(0.5, seed=0)


def test_a_real_decompression_bomb_is_refused_from_its_directory(odd):
    """A 4 MB .npz holding 1 GiB of zeros: refused from the zip directory, nothing is decompressed."""
    import io

    path = odd / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name in ("y_train", "x_test", "y_test"):
            z.writestr(f"{name}.npy", _npy_member((1,), payload=bytes(8)))
        with z.open("x_train.npy", "w", force_zip64=True) as f:
            f.write(_npy_member((2**24, 8)))
            zeros = bytes(2**24)
            for _ in range(8):
                f.write(zeros)  # 128 MiB here; the limit below is lowered to match (the default is 1 GiB)
    import dataclasses

    from vg_studio import limits

    before = limits.LIMITS
    limits.LIMITS = dataclasses.replace(before, npz_bytes=2**30 // 8)
    try:
        with allocates_under(16), pytest.raises(DatasetError, match="npz_ratio|npz_bytes"):
            load_dataset(f"npz:{path}")
    finally:
        limits.LIMITS = before


def _png_declaring(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@pytest.mark.timeout(120)  # a FIFO opened for reading would wait for a writer for ever
@pytest.mark.parametrize("case, needle", [
    ("fifo", "not a regular file"), ("30000x30000 png", "image_pixels"), ("12000x12000 png", "image_pixels"),
    ("device named .png", "not a regular file"), ("too many images", "images"), ("deep folders", "nested"),
    ("zero-byte png", "not a readable image")])
def test_image_folders_that_would_hang_or_explode_are_refused_fast(case, needle, odd, monkeypatch):
    root = odd / "images"
    _image_folder(root, "mixed sizes")
    target = root / "cat ü" / "odd.png"
    if case == "fifo":
        os.mkfifo(target)
    elif case == "30000x30000 png":
        target.write_bytes(_png_declaring(30000, 30000))
    elif case == "12000x12000 png":  # below Pillow's own bomb limit, above ours
        target.write_bytes(_png_declaring(12000, 12000))
    elif case == "device named .png":
        target.symlink_to("/dev/zero")
    elif case == "too many images":
        import dataclasses

        from vg_studio import limits

        monkeypatch.setattr(limits, "LIMITS", dataclasses.replace(limits.LIMITS, images=5))
    elif case == "deep folders":
        deep = root / "dog 日"
        for i in range(40):
            deep = deep / f"d{i}"
        deep.mkdir(parents=True)
    elif case == "zero-byte png":
        target.write_bytes(b"")
    with allocates_under(16), pytest.raises(DatasetError) as info:
        load_dataset(f"folder:{root}")
    assert needle in str(info.value) and str(root) in str(info.value) and "\n" not in str(info.value)


def test_a_symlink_loop_in_an_image_folder_is_not_followed(odd):
    root = odd / "images"
    _image_folder(root, "mixed sizes")
    (root / "cat ü" / "loop").symlink_to(root, target_is_directory=True)
    data = load_dataset(f"folder:{root}")
    assert len(data.x_train) + len(data.x_test) == 8


# ---- run directories: never execute code from them ---------------------------------------------------------
class _Bomb:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


MARKER = Path(os.environ.get("TMPDIR", "/tmp")) / f"vg-studio-pickle-ran-{os.getpid()}"


def _good_run(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    edits.set_depth(example_spec(), 1).save(path / "spec.json")  # one hidden layer, as the history below
    history = History(["hidden_1", "output"], ["relu", "softmax"])
    history.add_epoch(0, {"loss": 1.0})
    write_h5(history, path / "history.h5")


def _break_history(path: Path, case: str) -> None:
    target = path / "history.h5"
    if case == "truncated":
        target.write_bytes(target.read_bytes()[:300])
    elif case == "pickle":
        target.write_bytes(pickle.dumps(_Bomb()))
    elif case == "foreign h5":
        with h5py.File(target, "w") as f:
            f["data"] = np.zeros(3)
    elif case == "wrong structure":
        with h5py.File(target, "w") as f:
            f.attrs["schema"] = 1
            f.attrs["layer_names"] = 7
            f["epochs"] = np.zeros(3)  # a dataset where a group belongs
    elif case == "missing":
        target.unlink()
    elif case == "empty":
        target.write_bytes(b"")


@pytest.mark.parametrize("case", ["truncated", "pickle", "foreign h5", "wrong structure", "missing", "empty"])
def test_bad_history_is_one_run_store_error_and_runs_no_code(case, odd):
    run = odd / "run"
    _good_run(run)
    _break_history(run, case)
    with pytest.raises(RunStoreError) as info:
        load_run(run)
    assert "history.h5" in str(info.value)
    assert not MARKER.exists()


@pytest.mark.parametrize("case", ["truncated", "pickle", "foreign zip"])
def test_a_bad_model_file_is_never_loaded_when_a_run_is_read(case, odd):
    run = odd / "run"
    _good_run(run)
    model = run / "model.keras"
    if case == "truncated":
        model.write_bytes(b"PK\x03\x04 truncated")
    elif case == "pickle":
        model.write_bytes(pickle.dumps(_Bomb()))
    else:
        with zipfile.ZipFile(model, "w") as z:
            z.writestr("config.json", json.dumps({"class_name": "Lambda", "config": {"function": "exec"}}))
    spec, history, _ = load_run(run)
    assert history.epochs["epoch"] == [0] and not MARKER.exists()
    result = run_cli("export", str(run), "--to", str(odd / "out.keras"))
    assert_one_line_error(result, "model.keras")  # not a Keras model: refused, never loaded, nothing written
    assert not MARKER.exists() and not (odd / "out.keras").exists()


def test_a_model_whose_lambda_would_run_code_is_never_executed(odd):
    """A real .keras file with a Lambda layer whose function writes a marker file. Positive control at the end:
    loading it with safe_mode off does write the marker — so the checks before it could have failed."""
    import keras

    marker = odd / "lambda ran"

    # a lambda (Keras stores its bytecode) with the marker's path in its code
    payload = eval(f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]")  # noqa: S307 - the test's own text

    run = odd / "run"
    _good_run(run)
    keras.Sequential([keras.Input((2,)), keras.layers.Lambda(payload)]).save(run / "model.keras")
    marker.unlink(missing_ok=True)  # building the model called it once
    open_run(run)
    assert not marker.exists()
    with pytest.raises(ValueError, match="(?i)lambda|unsafe|deserializ"):
        keras.saving.load_model(run / "model.keras")  # how VG Studio and a user load it: safe mode refuses
    assert not marker.exists()
    result = run_cli("export", str(run), "--to", str(odd / "out.keras"))  # a valid .keras file: copied as bytes
    assert result.returncode == 0 and not marker.exists()
    keras.saving.load_model(odd / "out.keras", safe_mode=False)  # the control: this does run it
    assert marker.exists()


def test_the_code_base_never_unpickles_or_disables_safe_mode():
    forbidden = re.compile(r"\bpickle\b|allow_pickle\s*=\s*True|safe_mode\s*=\s*False|(?<![.\w])(eval|exec)\(|"
                           r"enable_unsafe_deserialization|marshal\.loads")
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in (ROOT / "vg_studio").rglob("*.py")
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if forbidden.search(line)]
    assert hits == []


@pytest.mark.parametrize("case", ["not a directory", "empty directory", "spec only", "bad report"])
def test_bad_run_directories(case, odd):
    run = odd / "run"
    if case == "not a directory":
        run.write_text("x")
    elif case == "empty directory":
        run.mkdir()
    else:
        _good_run(run)
        if case == "spec only":
            (run / "history.h5").unlink()
        else:
            (run / "report.json").write_text("{truncated")
    with pytest.raises((RunStoreError, SpecError)) as info:
        load_run(run)
    assert str(run) in str(info.value)


# ---- the command line ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["malformed JSON", "nested 100k deep", "1e400 epochs", "future schema",
                                  "unknown activation", "mistyped hyperparameter", "lone surrogate name"])
def test_cli_spec_check_bad_specs(case, odd):
    text, needle = BAD_SPECS[case]
    path = odd / "bad.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    assert_one_line_error(run_cli("spec", "--check", str(path)), needle, str(path))


def test_cli_missing_and_binary_spec(odd):
    assert_one_line_error(run_cli("spec", "--check", str(odd / "missing.json")), "file not found")
    (odd / "bin.json").write_bytes(b"\x00\xff\xfe")
    assert_one_line_error(run_cli("spec", "--check", str(odd / "bin.json")), "cannot read")


@pytest.mark.parametrize("args, needle", [
    (["train", "--out", "{odd}/r", "--epochs", "0"], "training.epochs"),
    (["train", "--out", "{odd}/r", "--limit", "3"], "data.options.limit"),
    (["train", "--out", "{odd}/r", "--lr", "nan"], "optimizer.learning_rate"),
    (["train", "--out", "{odd}/r", "--lr", "inf"], "optimizer.learning_rate"),
    (["train", "--out", "{odd}/r", "--units", "0"], "units"),
    (["train", "--out", "{odd}/r", "--layers", "-1"], "--layers"),
    (["train", "--out", "{odd}/r", "--clipnorm", "-1"], "clipnorm"),
    (["train", "--out", "{odd}/r", "--seed", "-1"], "training.seed"),
    (["train", "--out", "{odd}/r", "--dataset", "imagenet"], "data.dataset"),
    (["export", "{odd}", "--to", "{odd}/m.keras"], "no trained model"),
    (["export", "{odd}/run", "--to", "{odd}/m.txt"], "must end in .keras"),
])
def test_cli_bad_arguments_before_any_training(args, needle, odd):
    if args[0] == "export" and "run" in args[1]:
        (odd / "run").mkdir()
        _keras_file(odd / "run" / "model.keras")
    argv = [a.format(odd=odd) for a in args]
    assert_one_line_error(run_cli(*argv), needle)


def test_cli_train_bad_data_files_and_output_folders(odd):
    """Bad data files and output folders are refused before TensorFlow loads."""
    npz = odd / "broken.npz"
    _write_npz(npz, "truncated")
    assert_one_line_error(run_cli("train", "--out", str(odd / "r1"), "--dataset", f"npz:{npz}"), str(npz))
    blocker = odd / "a file"
    blocker.write_text("x")
    assert_one_line_error(run_cli("train", "--out", str(blocker / "run"), "--dataset", "digits"), str(blocker))


def test_a_second_run_into_a_busy_directory_is_refused(odd):
    from vg_studio.cli import run_dir_lock

    with run_dir_lock(str(odd / "busy")):  # as a running `vg-studio train --out busy` holds it
        result = run_cli("train", "--out", str(odd / "busy"), "--dataset", "digits", "--limit", "50")
    assert_one_line_error(result, "another run is writing")
    with run_dir_lock(str(odd / "busy")):  # released: the next run may use it
        pass


def test_export_into_a_missing_folder_is_one_line(odd):
    run = odd / "run"
    _good_run(run)
    _keras_file(run / "model.keras")
    assert_one_line_error(run_cli("export", str(run), "--to", str(odd / "no such" / "m.keras")), "cannot write")


def test_diagnose_a_broken_run_is_one_line(odd):
    run = odd / "run"
    _good_run(run)
    _break_history(run, "truncated")
    assert_one_line_error(run_cli("diagnose", str(run)), "history.h5")


# ---- the command line: signals, output folders, start-up, usage -------------------------------------------------
def _keras_file(path: Path) -> None:
    """A structurally complete .keras file (what export checks), without Keras."""
    import io

    weights = io.BytesIO()
    with h5py.File(weights, "w"):
        pass
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.0.0"}))
        z.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {}}))
        z.writestr("model.weights.h5", weights.getvalue())


def _popen_cli(*args: str, env_extra: dict | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS")}
    env.update({"PYTHONPATH": str(ROOT), **(env_extra or {})})
    return subprocess.Popen([sys.executable, "-m", "vg_studio.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def test_sigterm_mid_training_is_a_cancel_and_the_terminal_stays_quiet(odd):
    """SIGTERM (a process manager, `kill`) stops like Ctrl-C: after the current batch, report "cancelled", every
    completed epoch kept. Run with TensorFlow's own settings (no TF_CPP_MIN_LOG_LEVEL): no start-up chatter."""
    out = odd / "run"
    proc = _popen_cli("train", "--dataset", "digits", "--layers", "2", "--units", "16", "--epochs", "500",
                      "--out", str(out))
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("epoch 1:"):
            break
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 143, stderr[-2000:]  # 128 + SIGTERM: a cancelled run, like any signalled program
    report = open_run(out).report
    assert report["status"] == "cancelled" and report["epochs_completed"] >= 1
    assert stderr.strip() == "stopping after the current batch (SIGTERM again to stop at once)", stderr
    assert "cancelled" in stdout


def test_ctrl_c_in_the_first_instant_prints_no_traceback(odd):
    """Ctrl-C from the moment Python starts running VG Studio's code. Python's own start-up (site, runpy: before
    any of our code; ~50 ms on a quiet machine) is measured and waited for; a signal that still lands there shows
    a traceback without a single VG Studio frame — the interpreter's business, not counted."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    python_start = time.perf_counter() - started
    cli_source = (ROOT / "vg_studio" / "cli.py").read_text(encoding="utf-8").splitlines()
    preamble = next(i for i, line in enumerate(cli_source, 1) if line.startswith("import argparse"))
    counted = 0
    for extra in (0.0, 0.03, 0.1, 0.3, 0.8):
        proc = _popen_cli("train", "--dataset", "digits", "--epochs", "300", "--out", str(odd / "run"))
        time.sleep(python_start + extra)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=300)
        frames = re.findall(r'File "([^"]+)", line (\d+)', stderr)
        ours = [(path, int(line)) for path, line in frames if "vg_studio" + os.sep in path]
        # never a traceback through VG Studio's code — but for the few bytecodes of cli.py before its very first
        # statements install the handler (the signal was already pending when Python entered the module)
        assert all(path.endswith("cli.py") and line < preamble for path, line in ours), stderr
        if "Traceback" in stderr or "Fatal Python error" in stderr or proc.returncode == -signal.SIGINT:
            continue  # the interpreter had not reached our code yet
        counted += 1
        assert proc.returncode == 130 and stderr.strip() == "vg-studio: interrupted", (proc.returncode, stderr)
        assert not (odd / "run").exists()  # no run was started, no folder left
    assert counted >= 2


@pytest.mark.slow
@pytest.mark.parametrize("delay", [1.0, 2.0, 3.0, 4.5, 6.0, 8.0])
def test_ctrl_c_while_the_backend_starts_is_never_swallowed(delay, odd):
    """Whenever it comes, a Ctrl-C ends the command soon with exit 130: before training "interrupted", during
    training a cancelled run. A swallowed one would train 300 epochs."""
    proc = _popen_cli("train", "--dataset", "digits", "--epochs", "300", "--out", str(odd / "run"))
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    started = time.time()
    stdout, stderr = proc.communicate(timeout=300)
    assert time.time() - started < 60 and "Traceback" not in stderr, stderr
    assert proc.returncode == 130, stderr
    if (odd / "run").exists():
        assert open_run(odd / "run").status == "cancelled"
    else:
        assert stderr.strip().endswith("vg-studio: interrupted"), stderr


def test_cli_refuses_fast_what_needs_no_training(odd):
    """Each of these is decided before TensorFlow loads: one line, and quickly."""
    spec_dir = odd / "mine"
    spec_dir.mkdir()
    example_spec().save(spec_dir / "spec.json")
    before = (spec_dir / "spec.json").read_bytes()
    old = odd / "old run"
    _good_run(old)
    (old / "report.json").write_text(json.dumps({"status": "completed"}))
    old_files = {p.name: p.read_bytes() for p in old.iterdir()}
    cases = [
        (["train", "--out", ""], "--out: an empty path"),
        (["train", "--spec", str(spec_dir / "spec.json"), "--out", str(spec_dir), "--epochs", "1"],
         "not part of a VG Studio run (spec.json)"),
        (["train", "--out", str(old), "--overwrite", "--dataset", f"npz:{odd / 'missing.npz'}"], "file not found"),
        (["train", "--out", str(old)], "already holds a run"),
    ]
    for args, needle in cases:
        started = time.perf_counter()
        assert_one_line_error(run_cli(*args), needle)
        assert time.perf_counter() - started < 20  # no TensorFlow import (that alone takes longer here)
    assert (spec_dir / "spec.json").read_bytes() == before and sorted(p.name for p in spec_dir.iterdir()) == \
        ["spec.json"]
    assert {p.name: p.read_bytes() for p in old.iterdir()} == old_files  # the failed overwrite changed nothing


def test_usage_mistakes_are_two_short_lines(odd):
    for args in (["train"], ["train", "--out", "x", "--epochs", "ten"], ["bogus"], ["export"]):
        result = run_cli(*args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 2 and lines[0].startswith("usage: vg-studio"), lines
        assert lines[1].startswith("vg-studio: error:") and all(len(line) < 200 for line in lines)


def test_bad_limits_in_the_environment_are_one_line():
    result = subprocess.run([sys.executable, "-m", "vg_studio.cli", "spec", "--example"], capture_output=True,
                            text=True, cwd=ROOT, env={**os.environ, "VG_STUDIO_LIMITS": '{"layers": -3}'})
    assert_one_line_error(result, "VG_STUDIO_LIMITS", "layers")


@pytest.mark.parametrize("case", ["not a zip", "truncated zip", "no weights", "config not JSON", "folder"])
def test_export_refuses_what_is_not_a_keras_model(case, odd):
    run = odd / "run"
    _good_run(run)
    model = run / "model.keras"
    _keras_file(model)
    data = model.read_bytes()
    if case == "not a zip":
        model.write_text("hello")
    elif case == "truncated zip":
        model.write_bytes(data[: len(data) // 2])
    elif case == "no weights":
        with zipfile.ZipFile(model, "w") as z:
            z.writestr("metadata.json", "{}")
            z.writestr("config.json", "{}")
    elif case == "config not JSON":
        with zipfile.ZipFile(model, "w") as z:
            z.writestr("metadata.json", "{}")
            z.writestr("config.json", "[" * 10_000)
            z.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")
    else:
        model.unlink()
        model.mkdir()
    result = run_cli("export", str(run), "--to", str(odd / "out.keras"))
    assert_one_line_error(result, "model.keras")
    assert "exported" not in result.stdout and not (odd / "out.keras").exists()
    assert not list(odd.glob(".*.tmp"))


# ---- diagnose on run directories VG Studio did not write (in-process CLI: the same code path, no start-up) -------
def _broken_runs():
    import tests.test_runstore as store_tests

    for case in store_tests.REPORT_CASES:
        yield f"report: {case}", "report.json", lambda run, c=case: (run / "report.json").write_text(
            json.dumps(store_tests._report_case(c)))
    for case in store_tests.H5_CASES:
        yield f"history.h5: {case}", "history.h5", lambda run, c=case: store_tests._h5_case(run / "history.h5", c)
    yield "spec nested 100k deep", "spec.json", lambda run: (run / "spec.json").write_text("[" * 100_000)
    yield "spec a FIFO", "spec.json", lambda run: ((run / "spec.json").unlink(), os.mkfifo(run / "spec.json"))
    yield "model.json a list", "model.json", lambda run: (run / "model.json").write_text("[]")
    yield "report 50 MB of spaces", "report.json", lambda run: (run / "report.json").write_bytes(
        b" " * (65 * 2**20))


BROKEN_RUNS = {name: (needle, make) for name, needle, make in _broken_runs()}


@pytest.mark.parametrize("case", list(BROKEN_RUNS))
def test_diagnose_any_broken_run_directory_is_one_line(case, odd, capsys):
    from tests.test_runstore import write_run
    from vg_studio.cli import main

    run = odd / "run"
    write_run(run)
    edits.set_depth(example_spec(), 2).save(run / "spec.json")  # the spec of write_run's 3 layer columns
    needle, make = BROKEN_RUNS[case]
    make(run)
    assert main(["diagnose", str(run)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vg-studio: error:") and needle in lines[0], err
    assert str(run) in lines[0]


# ---- names are the user's: any Unicode, everywhere ---------------------------------------------------------------
def _model_names_are_keras_safe() -> bool:
    import importlib.util

    spec = importlib.util.find_spec("vg_studio.nn.build")
    return "def model_name(" in Path(spec.origin).read_text(encoding="utf-8")


# The Keras model's name is made in nn/build.py (sdagd's): until its Keras-safe naming lands, a Keras scope-name
# ValueError is expected — strict, so the marker must go as soon as it passes.
@pytest.mark.xfail(not _model_names_are_keras_safe(), reason="nn/build.py: Keras-safe model names not landed",
                   strict=True)
@pytest.mark.parametrize("name", ["Versuch über Sigmoid", "-🔥 café",
                                  pytest.param("日本語の実験", marks=pytest.mark.slow),
                                  pytest.param("--overwrite", marks=pytest.mark.slow)])
def test_any_unicode_experiment_name_trains_and_reads_back(name, odd):
    import csv
    import io

    from vg_studio.safeio import atomic_write_text
    from vg_studio.train.trainer import Trainer

    spec = make_tiny_spec(epochs=1, limit=100).model_copy(update={"name": name})
    run = odd / f"run {name}"
    result = Trainer(spec, run_dir=run).run()
    assert result.status == "completed", result.message
    loaded = open_run(run)
    assert loaded.spec.name == name and loaded.report["name"] == name and loaded.history.num_epochs == 1
    atomic_write_text(odd / f"{name}.csv", loaded.history.to_csv())  # the GUI's history export
    rows = list(csv.DictReader(io.StringIO((odd / f"{name}.csv").read_text(encoding="utf-8"))))
    assert [r["row"] for r in rows].count("epoch") == 1


# ---- training faults -----------------------------------------------------------------------------------------
CANCEL_POINTS = ["before run", "RunStarted", "first BatchEnd", "mid-epoch BatchEnd", "ProbeRecord", "EpochEnd",
                 "last BatchEnd"]


@pytest.mark.parametrize("point", CANCEL_POINTS)
def test_cancel_at_any_moment_keeps_every_completed_epoch(point, odd):
    from vg_studio.train import events
    from vg_studio.train.trainer import Trainer

    spec = make_tiny_spec(epochs=2, limit=200, record_every=1)  # 4 steps per epoch
    batches, at_cancel = [], []

    def listener(event):
        if isinstance(event, events.BatchEnd):
            batches.append(event)
        hit = {"RunStarted": isinstance(event, events.RunStarted),
               "first BatchEnd": isinstance(event, events.BatchEnd) and len(batches) == 1,
               "mid-epoch BatchEnd": isinstance(event, events.BatchEnd) and len(batches) == 6,
               "ProbeRecord": isinstance(event, events.ProbeRecord) and event.step == 3,
               "EpochEnd": isinstance(event, events.EpochEnd) and event.epoch == 0,
               "last BatchEnd": isinstance(event, events.BatchEnd) and len(batches) == 8}.get(point, False)
        if hit:
            at_cancel.append(len(batches))
            trainer.cancel()

    run = odd / "run"
    trainer = Trainer(spec, run_dir=run, listeners=[listener])
    if point == "before run":
        trainer.cancel()
    result = trainer.run()
    assert result.status in ("cancelled", "completed")
    _, history, report = load_run(run)
    completed = len(history.epochs.get("epoch", []))
    assert history.epochs.get("epoch", []) == list(range(completed))
    assert report["epochs_completed"] == completed and report["status"] == result.status
    # Records reach the host in blocks (at the latest at the epoch's end), so the record of step 3 may arrive
    # mid-epoch or once all 4 batches of epoch 0 are done: the batches finished at the cancel decide.
    expected = {"before run": 0, "RunStarted": 0, "first BatchEnd": 0, "mid-epoch BatchEnd": 1,
                "ProbeRecord": at_cancel[0] // 4 if at_cancel else None, "EpochEnd": 1, "last BatchEnd": 2}[point]
    assert completed == expected
    assert all(np.isfinite(history.epochs["loss"])) if completed else True
    assert not list(run.glob(".*.tmp"))


def test_a_full_disk_mid_run_keeps_the_last_complete_history(odd, monkeypatch):
    from tests.faults import full_disk
    from vg_studio.train.trainer import Trainer

    run = odd / "run"
    Trainer(make_tiny_spec(epochs=1, limit=100), run_dir=odd / "probe").run()  # how much one epoch writes
    one_epoch = sum(p.stat().st_size for p in (odd / "probe").iterdir() if p.name != "model.keras")
    disk = full_disk(monkeypatch, run, budget=one_epoch)  # the disk fills during the second epoch
    try:
        result = Trainer(make_tiny_spec(epochs=3, limit=100), run_dir=run).run()
        assert result.status == "failed" and "No space left" in result.message
    except OSError as exc:  # the final write fails too: the CLI prints it as one line (exit 2)
        assert exc.errno == errno.ENOSPC and str(run) in exc.filename
    assert disk.failures
    monkeypatch.undo()
    loaded = open_run(run)
    assert loaded.history.epochs["epoch"][:1] == [0]  # the epoch completed before the disk filled is readable
    assert loaded.status == "failed"  # the space kept in reserve let the report say so
    assert not [p.name for p in run.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]


def test_non_finite_loss_stops_diagnoses_and_keeps_the_history(odd):
    from vg_studio.diagnose.listener import DiagnosisListener
    from vg_studio.train.trainer import Trainer

    spec = make_tiny_spec(epochs=3, limit=100, optimizer="sgd", lr=1e6, record_every=1, init_stddev=50.0,
                          initializer="random_normal")
    result = Trainer(spec, run_dir=odd / "run", listeners=[DiagnosisListener()]).run()
    assert result.status == "diverged" and "step" in result.message
    _, history, report = load_run(odd / "run")
    assert report["status"] == "diverged" and history.num_records >= 1
    assert not np.isfinite(history.record_loss[-1])  # the record at the bad step is kept for the diagnosis
    assert report.get("findings"), "the diagnostics name the problem"


# ---- found by a corpus of careless and hostile inputs (session 2) -------------------------------------------------
def _killed_run(path: Path) -> None:
    """A run whose writer was killed: spec.json, history.h5 (header only) and history.log, no report, no model."""
    from tests.test_runstore import write_run

    write_run(path, finish=False)
    edits.set_depth(example_spec(), 2).save(path / "spec.json")


def _setup(case: str, odd: Path) -> list:
    """The arguments of one CLI case, after making its files under `odd`."""
    spec = odd / "spec.json"
    text = example_spec().to_json()
    if case == "gui: missing path":
        return ["gui", str(odd / "nowhere")]
    if case == "gui: empty folder":
        (odd / "empty").mkdir()
        return ["gui", str(odd / "empty")]
    if case == "gui: broken run":
        _good_run(odd / "run")
        (odd / "run" / "history.h5").write_text("not HDF5")
        return ["gui", str(odd / "run")]
    if case == "gui: broken spec":
        spec.write_text("{")
        return ["gui", str(spec)]
    if case == "gui: empty path":
        return ["gui", ""]
    if case.startswith("train: empty "):  # `--spec ""` trained the built-in example instead
        flag = case.split()[-1]
        return ["train", "--out", str(odd / "out"), flag, "", *(["--dataset", "digits"] if flag == "--model" else [])]
    if case == "export: killed run":
        _killed_run(odd / "run")
        return ["export", str(odd / "run"), "--to", str(odd / "m.keras")]
    if case == "spec: a key twice":
        spec.write_text(text.replace('"epochs": ', '"epochs": 500, "epochs": ', 1))
    elif case == "spec: 1e309":
        spec.write_text('{"optimizer": {"name": "sgd", "learning_rate": 1e309}}')
    elif case == "spec: NUL in the dataset path":
        spec.write_text(text.replace('"mnist-5k"', '"npz:/tmp/a\\u0000b.npz"', 1))
    elif case == "spec: adding too big":
        spec.write_text(json.dumps({"data": {"dataset": "adding", "options": {"length": 10_000, "n": 1_000_000}}}))
    elif case == "spec: limit beyond int32":
        spec.write_text(json.dumps({"data": {"dataset": "digits", "options": {"limit": 10**20}}}))
    elif case == "reproduce: unknown dataset":
        return ["reproduce", "attention", "--dataset", "zzz", "--out", str(odd / "r")]
    elif case == "reproduce: --out a file":
        spec.write_text(text)
        return ["reproduce", "attention", "--out", str(spec)]
    return ["spec", "--check", str(spec)]


CLI_CASES = {  # case: words the one line must hold
    "gui: missing path": "no such file or folder", "gui: empty folder": "not a run directory",
    "gui: broken run": "history.h5", "gui: broken spec": "not valid JSON", "gui: empty path": "an empty path",
    "export: killed run": "interrupted", "spec: a key twice": '"epochs" appears twice',
    "spec: 1e309": "optimizer.learning_rate", "spec: NUL in the dataset path": "data.dataset: must be printable",
    "spec: adding too big": "dataset_values", "spec: limit beyond int32": "data.options.limit: must be <=",
    "reproduce: unknown dataset": "--dataset: unknown dataset 'zzz'", "reproduce: --out a file": "--out",
    "train: empty --spec": "--spec: an empty path", "train: empty --dataset": "--dataset: an empty name",
    "train: empty --model": "--model: an empty path",
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_odd_inputs_to_every_command_are_one_line_before_any_window_or_backend(case, odd, capsys):
    from vg_studio.cli import main

    args = _setup(case, odd)
    loaded = set(sys.modules)
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vg-studio: error:") and CLI_CASES[case] in lines[0], lines
    assert not [m for m in set(sys.modules) - loaded if m.startswith(("PySide6", "tensorflow"))]  # no window


def test_a_killed_run_is_diagnosed_from_its_log(odd, capsys):
    from vg_studio.cli import main

    _killed_run(odd / "run")
    assert main(["diagnose", str(odd / "run"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_dir"] == str(odd / "run")


def test_an_unforeseen_error_is_still_one_line(monkeypatch, capsys):
    """The last guard: an exception no check foresaw is one line (exit 1), the traceback only on request."""
    from vg_studio import cli

    def broken(args):
        raise ZeroDivisionError("something nobody checked")

    monkeypatch.setitem(cli.COMMANDS, "info", broken)
    monkeypatch.delenv("VG_STUDIO_DEBUG", raising=False)
    assert cli.main(["info"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["vg-studio: error: unexpected problem (ZeroDivisionError: something nobody checked); "
                     "VG_STUDIO_DEBUG=1 shows where"]
    monkeypatch.setenv("VG_STUDIO_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        cli.main(["info"])


@pytest.mark.parametrize("text", ["[" * 100_000, '{"layers": 2.5}', '{"layers": ' + "9" * 5000 + "}"],
                         ids=["nested 100000 deep", "a fraction", "5000 digits"])
def test_a_bad_limits_variable_is_one_line(text):
    env = {**os.environ, "VG_STUDIO_LIMITS": text}
    result = subprocess.run([sys.executable, "-c", "import vg_studio.limits as l; print(l.ENVIRONMENT_ERROR)"],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("VG_STUDIO_LIMITS:"), result.stderr


def test_a_spec_with_a_byte_order_mark_loads(odd):
    (odd / "spec.json").write_bytes(b"\xef\xbb\xbf" + example_spec().to_json().encode())  # Windows Notepad
    assert ExperimentSpec.load(odd / "spec.json") == example_spec()


@pytest.mark.parametrize("limit", [-5, 0, 2.5, True])
def test_a_limit_that_is_not_a_positive_count_is_refused(limit):
    from vg_studio.data.base import Dataset

    x, y = np.zeros((10, 2), np.float32), np.arange(10) % 2
    with pytest.raises(DatasetError, match="data.options.limit"):  # -5 cut the last 5 examples
        Dataset("d", x, y, None, None, x, y, ["a", "b"]).limited(limit)


def test_a_sequence_task_too_big_for_memory_is_refused_before_allocation():
    with allocates_under(16):
        with pytest.raises(DatasetError, match="dataset_values"):
            load_dataset("adding", {"length": 10_000, "n": 1_000_000})  # 75 GiB asked of numpy before
        with pytest.raises(DatasetError, match="data.options.length"):
            load_dataset("adding", {"length": 10**9})


def test_an_npz_whose_array_header_is_code_is_refused_and_never_run(odd):
    marker = odd / "ran"
    header = f"{{'descr': __import__('os').system('touch {marker}'), 'x': 1}}    \n".encode()
    with zipfile.ZipFile(odd / "d.npz", "w") as z:
        for name in ("x_train", "y_train", "x_test", "y_test"):
            z.writestr(f"{name}.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header)
    with pytest.raises(DatasetError) as info:
        load_dataset(f"npz:{odd / 'd.npz'}")
    assert "d.npz" in str(info.value) and "\n" not in str(info.value) and not marker.exists()


def _keras_zip(path: Path, units: int, inputs: int) -> Path:
    dense = {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": units},
             "build_config": {"input_shape": [None, inputs]}}
    config = {"module": "keras", "class_name": "Sequential", "config": {"name": "m", "layers": [dense]}}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + bytes(64))
    return path


def test_a_model_file_declaring_a_huge_kernel_is_refused_before_keras_allocates_it(odd):
    """A few bytes of config can declare a 40 GB kernel, which Keras allocates before it reads a weight."""
    from vg_studio.keras_file import check_keras_file
    from vg_studio.safeio import UnreadableFile

    check_keras_file(_keras_zip(odd / "small.keras", 16, 8))  # 128 weights: fine
    with pytest.raises(UnreadableFile, match="declare 10,000,100,000 weights; the limit is .* model_params"):
        check_keras_file(_keras_zip(odd / "huge.keras", 100_000, 100_000))
