"""hftos.native.runner: timeouts, Ctrl-C and cleanup; unprivileged users; a one-CPU affinity mask."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from hftos import native
from hftos.native import HelperTimeout, runner


def _our_leftovers() -> list[Path]:
    return runner.leftovers(f"hftos-{os.getpid()}-")


def _children() -> list[str]:
    return [k for t in Path("/proc/self/task").iterdir() for k in (t / "children").read_text().split()]


@pytest.mark.parametrize("call", [
    lambda: native.fork_cost(4, n=10**7, timeout=1.5),        # a helper with forked children
    lambda: native.fifo_pingpong(10**7, timeout=1.5),         # a helper with a FIFO directory in /tmp
])
def test_overrunning_helper_is_killed_and_cleaned_up(call) -> None:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    with pytest.raises(HelperTimeout) as info:
        call()
    assert info.value.errno == errno.ETIMEDOUT and "timeout" in str(info.value)
    assert time.monotonic() - t0 < 10
    assert not _children()
    assert not _our_leftovers()


def test_interrupt_kills_the_helper() -> None:
    """Ctrl-C (KeyboardInterrupt) while a helper runs: it is killed, reaped and cleaned up."""
    def interrupt(signum, frame):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            native.pipe_pingpong(10**7, timeout=60)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert not _children()
    assert not _our_leftovers()


def test_cleanup_removes_shm_and_temp_entries() -> None:
    prefix = f"hftos-{os.getpid()}-cleanuptest"
    shm = Path("/dev/shm") / f"{prefix}-spsc"
    shm.write_bytes(b"x")
    tmpdir = Path("/tmp") / f"{prefix}dir"
    tmpdir.mkdir()
    os.mkfifo(tmpdir / "a-to-b", 0o600)
    assert len(runner.leftovers(prefix)) == 2
    runner.cleanup(prefix)
    assert not runner.leftovers(prefix) and not shm.exists() and not tmpdir.exists()


def test_errors_from_c_in_the_helper_reach_the_caller() -> None:
    """Bypass the argument checks to make sched_setaffinity fail inside the helper's C code."""
    from hftos.native import pingpong

    with pytest.raises(native.NativeError) as info:
        runner.run(pingpong._in_helper, timeout=30, transport="pipe", threads=0, cpu_a=4095, cpu_b=4095,
                   warmup=1, iters=1)
    assert info.value.errno == errno.EINVAL and "ping-pong" in str(info.value)
    assert not _children() and not _our_leftovers()


def test_runner_refuses_foreign_functions() -> None:
    with pytest.raises(ValueError):
        runner.run(os.getpid, timeout=5)


def test_one_cpu_affinity_mask() -> None:
    cpu = min(os.sched_getaffinity(0))
    code = ("import os; from hftos import native\n"
            f"assert os.sched_getaffinity(0) == {{{cpu}}}\n"
            "assert native.pipe_pingpong(10).stats.count == 10\n"
            "try:\n    native.spsc_pingpong(10)\nexcept native.NotEnoughCPUs as e:\n    print('NEEDS', e)\n"
            "try:\n    native.pipe_pingpong(10, cpus=(0, 1))\n"
            "except native.NotEnoughCPUs as e:\n    print('NEEDS', e)\n")
    proc = subprocess.run(["taskset", "-c", str(cpu), sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and all(ln.startswith("NEEDS") and "two CPUs" in ln for ln in lines)


NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


def _python_for_nobody(env: dict[str, str]) -> str | None:
    """An interpreter user 65534 can run that can also start itself again (as the helpers do).

    A virtualenv made from an interpreter under /root (pyenv) is not usable by other users; then
    the system interpreter of the same version is used with the venv's packages on PYTHONPATH.
    """
    probe = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import numpy, cffi'], check=True)"
    for exe in (sys.executable, f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"):
        probe_run = subprocess.run([*NOBODY, exe, "-c", probe], env=env, cwd="/", capture_output=True, timeout=60)
        if probe_run.returncode == 0:
            return exe
    return None


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to an unprivileged user needs root")
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv is not installed")
def test_works_as_an_unprivileged_user() -> None:
    import cffi
    import hftos

    cache = Path(tempfile.mkdtemp(prefix="native-unprivileged-"))  # not under pytest's root-only tmp_path
    os.chown(cache, 65534, 65534)
    path = [str(Path(hftos.__file__).parents[1]), str(Path(cffi.__file__).parents[1])]
    env = dict(os.environ, HFTOS_CACHE=str(cache), HOME=str(cache), HFTOS_BUDGET="smoke",
               PYTHONPATH=os.pathsep.join(path))
    code = ("from hftos import native\n"
            "r = native.cow_demo(); assert r['line'] == '0 1 1 A', r\n"
            "assert native.pipe_pingpong(10).stats.count == 10\n"
            "assert native.fork_cost(2, n=2).stats.count == 2\n"
            "assert native.spsc_layout()['index_lock_free']\n"
            "import os; print(os.geteuid())\n")
    try:
        exe = _python_for_nobody(env)
        if exe is None:
            pytest.skip("no Python interpreter here is executable by an unprivileged user")
        proc = subprocess.run([*NOBODY, exe, "-c", code], capture_output=True, text=True, timeout=120, env=env,
                              cwd="/")
    finally:
        shutil.rmtree(cache)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "65534"
