"""hftos.native.iopatterns: the I/O pattern measurements run, count calls right, and clean up."""

from __future__ import annotations

import glob
import math
import os
import tempfile

import pytest

from hftos import native
from hftos.native import NativeError, iopatterns


def _ours() -> list[str]:
    return glob.glob(os.path.join(tempfile.gettempdir(), "hftos-io-*"))


@pytest.fixture(autouse=True)
def no_leftovers():
    before = set(_ours())
    yield
    assert set(_ours()) <= before, "a scratch directory was left behind"


def test_sweep_counts_calls_and_bytes() -> None:
    r = native.io_sweep([4, 4096, 65536], modes=("read", "pread", "write", "pwrite", "mmap"), file_mib=1,
                        max_calls=1000, reps=1)
    assert r["sizes"] == [4, 4096, 65536] and r["file_bytes"] == 2**20
    for mode in ("read", "pread", "write", "pwrite"):
        assert r[mode]["bytes"] == [4000, 2**20, 2**20]
        assert r[mode]["calls"] == [1000, 256, 16]
        assert all(math.isfinite(x) and x > 0 for x in r[mode]["mb_s"] + r[mode]["calls_s"])
    assert r["mmap"]["calls"] == [2, 2, 2] and r["mmap"]["bytes"] == [2**20] * 3


def test_scratch_file_has_the_size_and_is_removed() -> None:
    with iopatterns.scratch_file(3 * 2**20 + 5) as p:
        assert os.path.getsize(p) == 3 * 2**20 + 5
        d = os.path.dirname(p)
    assert not os.path.exists(d)


@pytest.mark.parametrize("target", ["devnull", "file"])
def test_gather_writes_everything(target: str) -> None:
    r = native.io_gather(pieces=3, piece_len=10, records=500, target=target)
    assert r["records"] == 500 and r["write_ns"] > 0 and r["writev_ns"] > 0


def test_copy_is_checked() -> None:
    r = native.io_copy(mib=1, bufsize=65536)
    assert r["read/write"]["calls"] == 32 and r["sendfile"]["calls"] == 16
    assert r["sendfile"]["mb_s"] > 0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        native.io_sweep([0])
    with pytest.raises(ValueError, match="unknown mode"):
        native.io_sweep([4], modes=("readahead",), file_mib=1)
    with pytest.raises(ValueError, match="larger than"):
        native.io_sweep([2**21], file_mib=1)
    with pytest.raises(ValueError, match="IOV_MAX"):
        native.io_gather(pieces=2000)
    with pytest.raises(ValueError, match="256 MiB"):
        with iopatterns.scratch_file(2**30):
            pass


def test_c_rejects_bad_calls() -> None:
    c = iopatterns._lib()
    ns, calls, s = c.ffi.new("int64_t *"), c.ffi.new("long *"), c.ffi.new("uint64_t *")
    assert c.lib.io_sweep(-1, 0, 16, 16, ns, calls, s) < 0
    with pytest.raises(NativeError):
        iopatterns._pass(-1, "read", 16, 16)
