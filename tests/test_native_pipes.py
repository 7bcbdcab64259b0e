"""hftos.native.pipes: the corrected pipe, FIFO and shared-memory listings (errata E49-E54).

Correctness properties only (what the reader receives, error numbers, modes, atomicity); never timings
beyond "positive and finite".
"""

from __future__ import annotations

import math
import os

import pytest

from hftos import native
from hftos.native import CompileError, pipes, runner

TWO_CPUS = len(os.sched_getaffinity(0)) >= 2


@pytest.fixture(autouse=True)
def no_leftovers():
    """No shm segment, FIFO directory or temp file of ours survives a test."""
    yield
    assert not runner.leftovers(f"hftos-{os.getpid()}-")


def test_pipe_buf_is_4096_and_capacity_a_multiple_of_it() -> None:
    info = pipes.pipe_buf()
    assert info["PIPE_BUF"] == 4096 == info["fpathconf_PC_PIPE_BUF"]
    assert info["capacity"] >= info["page_size"] and info["capacity"] % info["page_size"] == 0


def test_pipe_message_reaches_the_child_and_ends_with_eof() -> None:
    r = pipes.pipe_message("Hello from parent!")
    assert r["received"] == "Hello from parent!" and r["bytes"] == 18
    assert r["eof"] == 1 and r["reads"] >= 1


def test_an_unclosed_write_end_means_no_eof() -> None:
    r = pipes.pipe_message("tick", close_unused=False, wait_ms=50)
    assert r["received"] == "tick"
    assert r["eof"] == 0 and r["last_wait_ns"] >= 40e6


def test_a_long_message_is_read_in_bounded_pieces() -> None:
    msg = "x" * 250                        # more than the reader's 100-byte buffer (E50)
    r = pipes.pipe_message(msg)
    assert r["bytes"] == 250 and r["eof"] == 1 and r["reads"] >= 3
    assert r["received"] == msg[:127]      # the report keeps the first 127 bytes


@pytest.mark.parametrize("size", [1, 512, 4096])
def test_writes_up_to_pipe_buf_are_never_torn(size: int) -> None:
    r = pipes.pipe_atomicity(size, writers=3, records=max(4, 2**19 // size))
    assert r["torn"] == 0 and r["atomic_by_posix"]
    assert r["records"] == 3 * max(4, 2**19 // size) and r["bytes"] == r["records"] * size


def test_large_writes_arrive_complete_even_when_interleaved() -> None:
    r = pipes.pipe_atomicity(256 * 1024, writers=3, records=4)
    assert not r["atomic_by_posix"]
    assert r["bytes"] == 3 * 4 * 256 * 1024 and 0 <= r["torn"] <= r["records"]


def test_fifo_rules() -> None:
    r = pipes.fifo_rendezvous(30)
    assert r["received"] == "Market data tick"
    assert (r["open_before_mkfifo"], r["mkfifo_again"], r["nonblock_writer"]) == ("ENOENT", "EEXIST", "ENXIO")
    assert r["mode_0600"] == "0600"
    assert int(r["mode_0666"], 8) == 0o666 & ~int(r["umask"], 8)
    assert r["open_wait_ns"] >= 20e6       # the writer waited for the late reader


def test_shared_memory_is_private_and_synchronised() -> None:
    r = pipes.shm_message()
    assert (r["early_counter"], r["counter"], r["message"]) == (0, 42, "Shared data example")
    assert r["mode"] == "0600" and r["size"] > 0
    assert (r["open_missing"], r["create_again"]) == ("ENOENT", "EEXIST")


@pytest.mark.parametrize("same_cpu", [True, False])
def test_pipe_throughput(same_cpu: bool) -> None:
    if not same_cpu and not TWO_CPUS:
        with pytest.raises(native.NotEnoughCPUs):
            pipes.pipe_throughput(1000)
        return
    c = os.sched_getaffinity(0)
    cpu = min(c)
    r = pipes.pipe_throughput(5000, cpus=(cpu, cpu) if same_cpu else None)
    assert r["messages"] == 5000 and r["elapsed_ns"] > 0
    assert math.isfinite(r["mops"]) and r["mops"] > 0


@pytest.mark.parametrize("kwargs", [{"wait_ms": 0}, {"msg": "x" * 5000}])
def test_pipe_message_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        pipes.pipe_message(**kwargs)


@pytest.mark.parametrize("call", [
    lambda: pipes.pipe_atomicity(0), lambda: pipes.pipe_atomicity(4096, writers=27),
    lambda: pipes.fifo_rendezvous(-1), lambda: pipes.pipe_throughput(0),
])
def test_bad_arguments_raise_before_anything_runs(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        call()


def test_stray_semicolon_after_include_does_not_compile() -> None:
    """E49: `#include <sys/mman.h>;` is an error under the course's -Werror."""
    with pytest.raises(CompileError, match="extra tokens"):
        native.compile_snippet("int e49(void);", "#include <sys/mman.h>;\nint e49(void) { return 0; }")


# ---- chapter 4.2: capacity, slots and sweeps by message size ------------------------------------------

def test_pipe_fill_shows_slots_and_merging() -> None:
    page = os.sysconf("SC_PAGE_SIZE")
    normal = pipes.pipe_fill(1)
    assert normal["bytes"] == normal["capacity"] == normal["writes"]          # 1-byte writes merge into pages
    packet = pipes.pipe_fill(1, packet=True)
    assert packet["writes"] == packet["slots"] == packet["capacity"] // page  # one slot per packet
    big = pipes.pipe_fill(page, pipe_size=4 * page)
    assert big["capacity"] == 4 * page and big["writes"] == 4


def test_set_pipe_size_rounds_up_to_a_power_of_two_pages() -> None:
    page = os.sysconf("SC_PAGE_SIZE")
    assert pipes.pipe_fill(page, pipe_size=3 * page)["capacity"] == 4 * page
    assert pipes.pipe_fill(page, pipe_size=1)["capacity"] == page


def test_stream_sweep_moves_every_byte() -> None:
    rows = pipes.pipe_stream_sweep((8, 4096, 100_000), total_bytes=2**20, max_messages=2000)
    assert [r["msg_bytes"] for r in rows] == [8, 4096, 100_000]
    for r in rows:
        assert r["messages"] == max(64, min(2000, 2**20 // r["msg_bytes"]))
        assert r["elapsed_ns"] > 0 and r["reads"] >= 1 and r["capacity"] > 0
        assert r["bytes_per_read"] <= max(r["read_bytes"], r["msg_bytes"])
        assert math.isfinite(r["gib_per_s"]) and r["gib_per_s"] > 0 and r["msgs_per_s"] > 0
        assert r["cpus"][0] == r["cpus"][1]                                    # same CPU by default


def test_stream_sweep_with_capacity() -> None:
    rows = pipes.pipe_stream_sweep((65536,), pipe_size=2**20, total_bytes=2**22, max_messages=100)
    assert rows[0]["capacity"] == 2**20 and rows[0]["messages"] == 64


@pytest.mark.parametrize("same_cpu", [True, False])
def test_rtt_sweep(same_cpu: bool) -> None:
    if not same_cpu and not TWO_CPUS:
        with pytest.raises(native.NotEnoughCPUs):
            pipes.pipe_rtt_sweep((8,), 10, cpus=(0, 1) if min(os.sched_getaffinity(0)) == 0 else (1, 0))
        return
    cpus = None if same_cpu else tuple(sorted(os.sched_getaffinity(0))[:2])
    res = pipes.pipe_rtt_sweep((8, 70_000), 40, cpus=cpus, pipe_size=16384)
    assert list(res) == [8, 70_000]
    assert res[8].samples.shape == (40,) and res[70_000].samples.shape == (20,)
    for size, r in res.items():
        assert r.method["msg_bytes"] == size and r.method["capacity"] == 16384
        assert r.method["same_cpu"] is same_cpu and (r.samples > 0).all()


@pytest.mark.parametrize("call", [
    lambda: pipes.pipe_fill(0), lambda: pipes.pipe_stream_sweep(()), lambda: pipes.pipe_stream_sweep((2**25,)),
    lambda: pipes.pipe_rtt_sweep((8,), 0), lambda: pipes.pipe_rtt_sweep((8,), pipe_size=0),
])
def test_sweep_bad_arguments(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        call()
