"""A `.keras` file checked before anything in it is used — without Keras, so a refusal is instant and no code in
the file can run.

`check_keras_file` reads the zip's directory (member count and declared sizes, before anything is decompressed),
every member's checksum, metadata.json and config.json (size, nesting, layer count before and after parsing), and
counts the weights the config declares (`config_weights`) — Keras allocates them from the config before it reads a
single weight, so a few bytes of config could otherwise ask for 56 GB. The limits are vg_studio.limits':
`keras_members`, `keras_bytes`, `keras_config_bytes`, `keras_layers`, `model_params`.
"""

from __future__ import annotations

import math
import os
import re
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from vg_studio import limits
from vg_studio.safeio import UnreadableFile, loads_json, regular_file

KERAS_MEMBERS = ("metadata.json", "config.json", "model.weights.h5")
METADATA_BYTES = 2**20
BOMB_FLOOR = 64 * 2**20  # below this much unpacked data no ratio is suspicious
DIRECTORY_BYTES_PER_MEMBER = 1024  # a directory entry is 46 bytes + its name + extras: room for any real name


@dataclass
class KerasFile:
    """What the check found: the parsed config, its layers, the weights it declares, and the layers whose kind has
    no formula here (`uncounted`: (layer config, input shape or None) — Keras itself must count those)."""

    path: Path
    config: dict
    layers: int
    weights: int
    uncounted: list = field(default_factory=list)


def check_keras_file(path: str | os.PathLike, name: str | None = None) -> KerasFile:
    """Raise UnreadableFile (one line naming `name or path`) unless `path` is a complete Keras 3 `.keras` file
    within the limits: a regular file, a zip of at most `keras_members` members declaring at most `keras_bytes`
    unpacked (checked from its directory before anything is decompressed), every member passing its checksum,
    metadata.json and config.json JSON objects, config.json within `keras_config_bytes` and `keras_layers`, its
    layers declaring at most `model_params` weights, and model.weights.h5 an HDF5 file."""
    shown = name or str(path)
    path = Path(path)
    info = regular_file(path, "model file")
    key = (os.path.realpath(path), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, limits.LIMITS)
    if _last_checked[0] == key:  # the CLI checks before the backend loads, the loader again: decompress once
        return _last_checked[1]
    checked = _check(path, shown, info)
    _last_checked[:] = [key, checked]
    return checked


_last_checked: list = [None, None]


def _check(path: Path, shown: str, info) -> KerasFile:

    def broken(problem: str):
        return UnreadableFile(f"{shown}: not a complete Keras model file ({problem})")

    try:
        declared = _declared_directory(path, info.st_size)
        if declared is not None and declared[0] > limits.LIMITS.keras_members:
            raise UnreadableFile(f"{shown}: a zip of {declared[0]:,} members; the limit is "
                                 f"{limits.LIMITS.keras_members:,} (VG_STUDIO_LIMITS keras_members)")
        if declared is not None and declared[1] > DIRECTORY_BYTES_PER_MEMBER * limits.LIMITS.keras_members:
            raise UnreadableFile(f"{shown}: its zip directory is {declared[1]:,} bytes: more members than the "
                                 f"{limits.LIMITS.keras_members:,} allowed (VG_STUDIO_LIMITS keras_members)")
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            _check_directory(shown, members, broken)
            bad = archive.testzip()
            if bad is not None:
                raise broken(f"{bad} is damaged")
            _json_member(archive, "metadata.json", METADATA_BYTES, shown, broken)
            config = _json_member(archive, "config.json", limits.LIMITS.keras_config_bytes, shown, broken,
                                  "keras_config_bytes")
            with archive.open("model.weights.h5") as weights:
                if weights.read(8) != b"\x89HDF\r\n\x1a\n":
                    raise broken("model.weights.h5 is not HDF5")
    except UnreadableFile:
        raise
    except zipfile.BadZipFile:
        raise broken("not a zip archive; truncated?") from None
    except (OSError, EOFError, ValueError, RuntimeError, NotImplementedError, zipfile.LargeZipFile) as exc:
        raise broken(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    layers = list(layer_entries(config))
    if len(layers) > limits.LIMITS.keras_layers:
        raise UnreadableFile(f"{shown}: its config declares {len(layers):,} layers; the limit is "
                             f"{limits.LIMITS.keras_layers:,} (VG_STUDIO_LIMITS keras_layers)")
    weights, uncounted = 0, []
    for layer, shape in layers:
        count = layer_weights(layer, shape)
        if count is None:
            uncounted.append((layer, shape))
        else:
            weights += count
    check_weight_count(shown, weights)
    return KerasFile(path, config, len(layers), weights, uncounted)


def check_weight_count(shown: str, weights: int) -> None:
    if weights > limits.LIMITS.model_params:  # Keras would allocate them before reading any weight
        raise UnreadableFile(f"{shown}: its layers declare {weights:,} weights; the limit is "
                             f"{limits.LIMITS.model_params:,} (VG_STUDIO_LIMITS model_params)")


def _declared_directory(path: Path, size: int) -> tuple[int, int] | None:
    """(members, bytes of the central directory) as the zip's end record declares them (ZIP64 too), read before
    Python parses the directory (which costs time per member); None where no end record is found (zipfile then
    says what is wrong)."""
    tail = min(size, 65_557)  # the end record (22 bytes) + the longest comment
    with open(path, "rb") as fh:
        fh.seek(size - tail)
        data = fh.read(tail)
        at = data.rfind(b"PK\x05\x06")
        if at < 0 or len(data) - at < 22:
            return None
        entries, directory = struct.unpack_from("<HI", data, at + 10)
        zip64 = entries == 0xFFFF or directory == 0xFFFFFFFF
        if not zip64 or at < 20 or data[at - 20: at - 16] != b"PK\x06\x07":
            return entries, directory
        offset = struct.unpack_from("<Q", data, at - 20 + 8)[0]  # the ZIP64 end record
        if offset + 56 > size:
            return None
        fh.seek(offset)
        record = fh.read(56)
        return struct.unpack_from("<QQ", record, 32) if record[:4] == b"PK\x06\x06" else None


def _check_directory(shown: str, members: list, broken) -> None:
    if len(members) > limits.LIMITS.keras_members:
        raise UnreadableFile(f"{shown}: a zip of {len(members):,} members; the limit is {limits.LIMITS.keras_members:,} "
                             "(VG_STUDIO_LIMITS keras_members)")
    names = {m.filename for m in members}
    missing = [m for m in KERAS_MEMBERS if m not in names]
    if missing:
        raise broken(f"no {', '.join(missing)}")
    unpacked = sum(m.file_size for m in members)
    packed = sum(m.compress_size for m in members)
    if unpacked > limits.LIMITS.keras_bytes:
        raise UnreadableFile(f"{shown}: its members unpack to {unpacked:,} bytes; the limit is "
                             f"{limits.LIMITS.keras_bytes:,} (VG_STUDIO_LIMITS keras_bytes)")
    for member in [*members, None]:  # each member, then the whole archive
        size, squeezed = (member.file_size, member.compress_size) if member else (unpacked, packed)
        if size > BOMB_FLOOR and size > limits.LIMITS.npz_ratio * max(squeezed, 1):
            what = member.filename if member else "its members"
            raise broken(f"{what[:80]} unpacks {size // max(squeezed, 1):,} times larger: a decompression bomb?")


def _json_member(archive, member: str, limit: int, shown: str, broken, limit_name: str = "") -> dict:
    size = archive.getinfo(member).file_size
    if size > limit:
        raise UnreadableFile(f"{shown}: {member} is {size:,} bytes; the limit is {limit:,}"
                             + (f" (VG_STUDIO_LIMITS {limit_name})" if limit_name else ""))
    data = archive.read(member)
    if member == "config.json":
        # each layer is one "class_name": more of them than the limit allows (nested objects count too, so at
        # most a few times more) is refused before the parser builds the whole tree
        mentions = data.count(b'"class_name"')
        if mentions > 16 * limits.LIMITS.keras_layers:
            raise UnreadableFile(f"{shown}: its config declares more than {limits.LIMITS.keras_layers:,} layers ("
                                 f"{mentions:,} objects); the limit is {limits.LIMITS.keras_layers:,} (VG_STUDIO_LIMITS "
                                 "keras_layers)")
    document = loads_json(data, f"{shown}: {member}")
    if not isinstance(document, dict):
        raise broken(f"{member} is not a JSON object")
    return document


# ---- the config: its layers and what they weigh ------------------------------------------------------------
CONTAINERS = ("Sequential", "Functional", "Model")
WRAPPER_KEYS = ("layer", "backward_layer", "cell")


def layer_entries(config: dict):
    """(layer config, input shape or None) of every layer in a model config — nested models and the layers inside
    wrappers (Bidirectional, TimeDistributed, RNN cells) included — without recursion (a config nested thousands
    deep must not exhaust the stack)."""
    stack = [(config, None)]
    while stack:
        node, shape = stack.pop()
        if not isinstance(node, dict):
            continue
        inner = node.get("config")
        if not isinstance(inner, dict):
            continue
        yield node, shape
        layers = inner.get("layers")
        if isinstance(layers, list):
            stack.extend((layer, None) for layer in reversed(layers))  # popped in order
        for key in WRAPPER_KEYS:
            if isinstance(inner.get(key), dict):
                stack.append((inner[key], _inner_shape(node, key, _input_shape(node))))
        if isinstance(inner.get("cells"), list):  # StackedRNNCells: each cell takes the previous one's output
            stack.extend((cell, None) for cell in reversed(inner["cells"]))


def _inner_shape(wrapper: dict, key: str, shape):
    if shape is None:
        return None
    if wrapper.get("class_name") == "TimeDistributed" and len(shape) > 1:
        return [shape[0], *shape[2:]]  # the time axis is folded into the batch
    return shape


def _input_shape(layer: dict):
    """The layer's input shape (list with the batch axis first): from its build_config, else from the first input
    tensor its functional node records, else None."""
    build = layer.get("build_config")
    if isinstance(build, dict):
        shape = build.get("input_shape")
        if shape is None and isinstance(build.get("shapes_dict"), dict):
            shape = next(iter(build["shapes_dict"].values()), None)
        if _is_shape(shape):
            return shape
    nodes = layer.get("inbound_nodes")
    if isinstance(nodes, list) and nodes and isinstance(nodes[0], dict):
        for arg in nodes[0].get("args") or []:
            tensor = arg.get("config") if isinstance(arg, dict) else None
            if isinstance(tensor, dict) and _is_shape(tensor.get("shape")):
                return tensor["shape"]
    batch = (layer.get("config") or {}).get("batch_shape")
    return batch if _is_shape(batch) else None


def _is_shape(shape) -> bool:
    return isinstance(shape, list) and 0 < len(shape) <= 16 and all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0) for d in shape)


def layer_name(layer: dict) -> str:
    name = (layer.get("config") or {}).get("name") or layer.get("name")
    return name if isinstance(name, str) else "?"


def _n(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _window(value) -> int:
    if isinstance(value, list):
        return math.prod(max(_n(k), 1) for k in value) if value else 1
    return max(_n(value), 1)


# Layers with no weights, or whose weights are a few per input feature (counted as 4 per feature): enough to
# bound what a file can declare. Other kinds need Keras to count them (KerasFile.uncounted).
WEIGHTLESS = re.compile(
    r"(InputLayer|Activation|Dropout|SpatialDropout\dD|GaussianNoise|GaussianDropout|AlphaDropout|Flatten|Reshape|"
    r"Permute|RepeatVector|Concatenate|Add|Subtract|Multiply|Average|Maximum|Minimum|Dot|\w*Pooling\dD|"
    r"ZeroPadding\dD|Cropping\dD|UpSampling\dD|ReLU|LeakyReLU|ELU|Softmax|Masking|Identity|Rescaling|Resizing|"
    r"CenterCrop|Random\w+|ActivityRegularization|UnitNormalization|Lambda|Attention|AdditiveAttention|"
    r"CategoryEncoding|Hashing|Discretization|StringLookup|IntegerLookup|TextVectorization|Sequential|Functional|"
    r"Model|TimeDistributed|Bidirectional|RNN|StackedRNNCells)")
PER_FEATURE = re.compile(r"(BatchNormalization|LayerNormalization|GroupNormalization|Normalization|PReLU|"
                         r"SpectralNormalization|RMSNormalization)")


def layer_weights(layer: dict, shape=None) -> int | None:
    """The weights `layer` (one layer's config) declares, from its sizes and input shape — None for a kind this
    table does not know. Containers and wrappers count 0 here: their layers are counted one by one."""
    kind = str(layer.get("class_name") or "")
    cfg = layer.get("config") if isinstance(layer.get("config"), dict) else {}
    shape = shape or _input_shape(layer)
    features = max(_n(shape[-1]) if shape else 0, 1)
    bias = 1 if cfg.get("use_bias", True) else 0
    if kind == "Bidirectional" and not isinstance(cfg.get("backward_layer"), dict) and isinstance(cfg.get("layer"),
                                                                                               dict):
        return layer_weights(cfg["layer"], shape)  # Keras makes the backward layer a copy of the forward one
    if WEIGHTLESS.fullmatch(kind):
        return 0
    if PER_FEATURE.fullmatch(kind):
        return 4 * features
    units = _n(cfg.get("units"))
    if kind in ("Dense", "QuantizedDense"):
        return (features + bias) * units
    if kind in ("SimpleRNN", "SimpleRNNCell", "LSTM", "LSTMCell", "GRU", "GRUCell"):
        gates = {"L": 4, "G": 3}.get(kind[0], 1)
        doubled_bias = 2 if kind.startswith("GRU") and cfg.get("reset_after", True) else 1
        return gates * ((features + units) * units + bias * doubled_bias * units)
    filters, window = _n(cfg.get("filters")), _window(cfg.get("kernel_size"))
    if re.fullmatch(r"Conv(olution)?\dD(Transpose)?", kind):
        groups = max(_n(cfg.get("groups")), 1)
        return window * (features // groups or 1) * filters + bias * filters
    if re.fullmatch(r"ConvLSTM\dD", kind):
        return 4 * (window * (features + filters) * filters + bias * filters)
    depth = max(_n(cfg.get("depth_multiplier")), 1)
    if re.fullmatch(r"DepthwiseConv\dD", kind):
        return window * features * depth + bias * features * depth
    if re.fullmatch(r"SeparableConv(olution)?\dD", kind):
        return window * features * depth + features * depth * filters + bias * filters
    if kind == "Embedding":
        return _n(cfg.get("input_dim")) * _n(cfg.get("output_dim"))
    if kind == "MultiHeadAttention":
        heads, key_dim = _n(cfg.get("num_heads")), _n(cfg.get("key_dim"))
        value_dim = _n(cfg.get("value_dim")) or key_dim
        return heads * (2 * key_dim + 2 * value_dim) * (features + bias)
    return None
