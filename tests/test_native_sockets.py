"""hftos.native.sockets: socket round trips, SCM_RIGHTS fd passing, SO_PEERCRED (chapter 4.3).

Shapes and correctness properties only; never "A is faster than B".
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from hftos import native
from hftos.measure import Result
from hftos.native import runner, sockets

TWO_CPUS = len(os.sched_getaffinity(0)) >= 2
needs_two_cpus = pytest.mark.skipif(not TWO_CPUS, reason="needs two CPUs in this process's affinity mask")


@pytest.fixture(autouse=True)
def no_leftovers():
    yield
    assert not runner.leftovers(f"hftos-{os.getpid()}-")


def sane(r: Result, n: int) -> None:
    assert isinstance(r, Result) and r.unit == "ns" and r.host
    assert r.samples.shape == (n,) and np.all(np.isfinite(r.samples)) and np.all(r.samples > 0)


def test_exported() -> None:
    assert native.socket_pingpong is sockets.socket_pingpong
    assert native.fd_passing is sockets.fd_passing and native.peer_credentials is sockets.peer_credentials


@pytest.mark.parametrize("kind", list(sockets.KINDS))
def test_every_kind_same_cpu_by_default(kind: str) -> None:
    r = native.socket_pingpong(kind, 50)
    sane(r, 50)
    m = r.method
    first = min(os.sched_getaffinity(0))
    assert m["kind"] == kind and m["msg_bytes"] == 64 and m["same_cpu"] is True
    assert m["cpus"] == [first, first] and m["placement"] == "same CPU"
    assert (m["loopback_port"] is None) == kind.startswith("unix")
    if not kind.startswith("unix"):
        assert 0 < m["loopback_port"] < 65536


@pytest.mark.parametrize("kind", ["unix-stream", "unix-dgram", "tcp", "udp"])
@pytest.mark.parametrize("size", [1, 4096, 65507])
def test_message_sizes(kind: str, size: int) -> None:
    r = native.socket_pingpong(kind, 20, msg_bytes=size)
    sane(r, 20)
    assert r.method["msg_bytes"] == size and f"{size} B" in r.name


@needs_two_cpus
@pytest.mark.parametrize("kind", ["unix-stream", "tcp"])
def test_cross_cpu(kind: str) -> None:
    a, b = sorted(os.sched_getaffinity(0))[:2]
    r = native.socket_pingpong(kind, 30, cpus=(a, b))
    sane(r, 30)
    assert r.method["same_cpu"] is False and r.method["placement"] == "cross CPU"


def test_unpinned() -> None:
    r = native.socket_pingpong("unix-seqpacket", 20, cpus=(None, None))
    sane(r, 20)
    assert r.method["placement"] == "unpinned"


@pytest.mark.parametrize("kwargs", [
    {"kind": "pipe"}, {"kind": "unix-stream", "msg_bytes": 0}, {"kind": "udp", "msg_bytes": 65508},
    {"kind": "tcp", "n": 0}, {"kind": "tcp", "cpus": (0,)}, {"kind": "tcp", "msg_bytes": True},
])
def test_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        native.socket_pingpong(**kwargs)


def test_fd_passing() -> None:
    d = native.fd_passing("hello, world")
    assert d["same_inode"] and d["child_read"] == "hello"
    assert d["offset_after_child_read"] == 5                 # one open file description, one offset
    assert d["received_fd"] >= 0 and d["received_fd"] != d["sent_fd"]
    assert (d["ctrunc"], d["fds_after_ctrunc"]) == (1, 0)
    assert d["abstract_name"].startswith("@hftos-") and str(os.getpid()) in d["abstract_name"]
    assert d["listed_in_proc_net_unix"] in (1, -1) and d["listed_after_close"] in (0, -1)


def test_fd_passing_bad_payload() -> None:
    with pytest.raises(ValueError):
        native.fd_passing("abc")


def test_peer_credentials() -> None:
    d = native.peer_credentials()
    assert d["server_sees_pid"] == d["child_pid"] != d["parent_pid"]
    assert d["client_sees_pid"] == d["parent_pid"]
    assert d["pair_child_sees_pid"] == d["parent_pid"]       # socketpair: the creator, not the peer
    assert (d["server_sees_uid"], d["server_sees_gid"]) == (d["uid"], d["gid"]) == (os.getuid(), os.getgid())


def test_source_is_shown() -> None:
    text = native.source("sockets")
    assert "SCM_RIGHTS" in text and "SO_PEERCRED" in text and "TCP_NODELAY" in text
    assert "INADDR_LOOPBACK" in text and "INADDR_ANY" not in text
