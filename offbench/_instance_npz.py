"""Reading the columnar ``.npz`` form of an instance (no pickle, headers checked first).

The name is a 0-D text array, except a name that ends in NUL characters: numpy's text arrays
drop trailing NULs (``np.array("a\\0")[()] == "a"``), so such a name is written as a 1-D
``uint32`` array of its code points (:func:`name_array`, :func:`name_from_array`), and the round
trip keeps every name whole. Files of other names are unchanged byte for byte; a reader from
before this refuses such a file by the field (``name: expected a text``) rather than losing its
NULs.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np

from ._instance_json import FORMAT
from .errors import InstanceError
from .instance_checks import check_size, short


def read_arrays(data: bytes, names: set, optional: set = frozenset()) -> dict:
    """The arrays of an ``.npz`` instance, keyed by field (plus ``format`` and ``version``).

    ``names`` must all be present; ``optional`` ones (the arrays of DAG jobs, SPEC.md section 7)
    may be.

    Each array's header (dtype and shape) is read and checked against the size limits before
    its data is decompressed, so a small file that declares a huge array is refused without
    allocating it; object arrays are refused, never unpickled.
    """
    names = set(names) | {"format", "version"}
    arrays = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            keys = [i.filename[:-4] if i.filename.endswith(".npy") else i.filename for i in infos]
            unknown = sorted(set(keys) - names - set(optional))
            missing = sorted(names - set(keys))
            if unknown or missing or len(keys) != len(set(keys)):
                if "format" in missing or "version" in missing:
                    raise InstanceError("format", f"expected an {FORMAT}-npz file of version 1 or 2")
                raise InstanceError("", f"npz arrays do not match: missing {missing}, unknown "
                                        f"{[short(k, 40) for k in unknown[:5]]}")
            headers = {}
            for key, info in zip(keys, infos):
                with zf.open(info) as f:
                    headers[key] = _npy_header(f, key)
            _check_npz_headers(headers)
            for key, info in zip(keys, infos):
                with zf.open(info) as f:
                    arrays[key] = np.lib.format.read_array(f, allow_pickle=False)
                if arrays[key].shape != headers[key][0]:
                    raise InstanceError(key, "array data does not match its header")
    except InstanceError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile,
            NotImplementedError, RuntimeError) as e:  # RuntimeError: an encrypted member
        raise InstanceError("", f"not a readable .npz instance ({short(e, 160)})") from None
    return arrays


_NPZ_STRINGS = ("name", "format")
#: The longest name or format string, in characters.
_MAX_TEXT = 2**16


def name_array(name: str) -> np.ndarray:
    """The ``name`` array of an instance's npz (see the module docstring)."""
    if name.endswith("\0"):
        return np.array([ord(c) for c in name], dtype=np.uint32)
    return np.array(name)


def name_from_array(a: np.ndarray) -> str:
    """The name that :func:`name_array` wrote (its header already checked by read_arrays)."""
    if a.ndim == 0:
        return str(a)
    codes = a.astype(np.int64)
    if codes.size and (codes.min() < 0 or codes.max() > 0x10FFFF):
        bad = int(codes[(codes < 0) | (codes > 0x10FFFF)][0])
        raise InstanceError("name", f"expected Unicode code points (0 to 0x10FFFF), got {bad}")
    return "".join(map(chr, codes.tolist()))
_NPZ_INTEGERS = ("job_device", "layer_offsets", "version", "edge_offsets", "edge_src", "edge_dst")
_NPZ_BOOLEANS = ("job_is_dag", "edge_has_bits")


def _npy_header(f, key: str):
    """(shape, dtype) of one ``.npy`` member, read from its header alone."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"npy format version {version}")
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as e:
        raise InstanceError(key, f"not a readable .npy array ({short(e, 120)})") from None
    if dtype.hasobject:
        raise InstanceError(key, "holds Python objects (offbench never unpickles)")
    if key == "name" and dtype.kind in "iu" and len(shape) == 1:  # code points (name_array)
        if shape[0] > _MAX_TEXT:
            raise InstanceError(key, f"a text of {shape[0]:,} characters; at most 65,536")
        ok = True
    elif key in _NPZ_STRINGS:
        ok, what = dtype.kind == "U" and len(shape) == 0, "a text"
        if ok and dtype.itemsize > 4 * _MAX_TEXT:
            raise InstanceError(key, f"a text of {dtype.itemsize // 4:,} characters; at most 65,536")
    elif key in _NPZ_INTEGERS:
        ok, what = dtype.kind in "iu", "integers"
    elif key in _NPZ_BOOLEANS:
        ok, what = dtype.kind in "biu", "booleans"
    else:
        ok, what = dtype.kind in "fiu", "numbers"
    if not ok:
        raise InstanceError(key, f"expected {what}, got an array of {dtype} {tuple(shape)}")
    if len(shape) > 1:
        raise InstanceError(key, f"expected a 1-D array, got shape {tuple(shape)}")
    return tuple(shape), dtype


def _check_npz_headers(headers: dict) -> None:
    """The size limits, from the declared shapes (before any array is decompressed)."""
    def n(key):
        shape = headers[key][0]
        return shape[0] if shape else 1

    check_size(n_devices=n("dev_speed"), where="dev_speed")
    check_size(n_jobs=n("job_device"), where="job_device")
    check_size(n_jobs=max(n("layer_offsets") - 1, 0), where="layer_offsets")
    check_size(n_layers=n("ops"), where="ops")
    check_size(n_layers=max(n("bits") - n("job_device"), 0), where="bits")
    for key, (shape, _) in headers.items():
        if key.startswith("dev_"):
            check_size(n_devices=n(key), where=key)
        elif key in ("deadline", "job_weight", "job_is_dag"):
            check_size(n_jobs=n(key), where=key)
        elif key == "edge_offsets":
            check_size(n_jobs=max(n(key) - 1, 0), where=key)
        elif key.startswith("edge_"):
            check_size(n_edges=n(key), where=key)
