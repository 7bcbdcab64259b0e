"""Compile C through cffi (API mode), cached on disk.

The C a reader sees is the C that runs: every topic is one file in this directory
(:func:`source` returns its text), compiled with :func:`load` the first time a wrapper needs it.

How the cache works:

- The key is a SHA-256 over the module name, the cdef, the C source, the shared header
  ``common.h``, the compiler flags, the compiler's ``--version`` line, the cffi version and the
  Python extension suffix. Change any of them and the module is rebuilt under a new name.
- The cache lives in ``$HFTOS_CACHE`` or ``~/.cache/hftos/native/``. A later call, a new
  process or a restarted Jupyter kernel loads the ``.so`` from there (via ``importlib``) in
  milliseconds instead of compiling again (about half a second).
- Compilation happens in a private temporary directory inside the cache and the finished
  ``.so`` is moved into place with an atomic ``os.replace``: two processes compiling the same
  module at once (pytest-xdist, two notebooks) each produce a complete file and the last rename
  wins; nobody ever loads a half-written library.
- cffi's ``ffi.compile`` changes the working directory and the environment of the process that
  calls it, and gcc writes its diagnostics to file descriptor 2. Both are bad inside a
  multithreaded Jupyter kernel, so the compiler runs in a short-lived child Python process
  (``python -m hftos.native.build``); its stderr is captured and becomes the message of
  :class:`CompileError`.

The same cache also holds small standalone programs (:func:`executable`): a topic file compiled with
a ``-D`` define that switches on its ``main()``, for measurements whose parent process must be
small (a Python interpreter is 35-50 MiB resident). Same flags, same kind of key (plus the
defines), same temporary directory and atomic rename; gcc runs directly, as a subprocess.

Nothing here runs at import time.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any, Sequence

import cffi

#: Directory holding the topic C files and ``common.h``.
NATIVE_DIR = Path(__file__).resolve().parent

#: Flags every module is compiled with (conventions §5).
CFLAGS: tuple[str, ...] = ("-O2", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE")

#: Libraries every module links with (``shm_open`` needs ``-lrt`` on glibc < 2.34).
LIBRARIES: tuple[str, ...] = ("rt", "pthread")

#: Seconds allowed for one compilation before it is abandoned.
COMPILE_TIMEOUT = 120.0


class CompileError(RuntimeError):
    """The C compiler rejected a module; the message contains the compiler's own output."""


@dataclass(frozen=True)
class Compiled:
    """A loaded native module: ``ffi`` (types, ``ffi.new``, ``ffi.from_buffer``) and ``lib`` (the functions)."""

    name: str
    ffi: Any
    lib: Any
    path: Path
    from_cache: bool  #: True if the ``.so`` was already on disk when this process first loaded it


@dataclass(frozen=True)
class Executable:
    """A compiled standalone program in the cache."""

    name: str
    path: Path
    from_cache: bool  #: True if the program was already on disk when this call looked for it


_loaded: dict[str, Compiled] = {}
_lock = threading.Lock()


def cache_dir() -> Path:
    """The directory compiled modules are kept in: ``$HFTOS_CACHE`` or ``~/.cache/hftos/native``."""
    env = os.environ.get("HFTOS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hftos" / "native"


def _ready_cache_dir() -> Path:
    """:func:`cache_dir`, created if needed; a clear :class:`CompileError` if it cannot be."""
    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CompileError(f"cannot create the cache directory {directory} ({exc.strerror}); "
                           "set HFTOS_CACHE to a writable directory") from exc
    return directory


def _compiler() -> list[str]:
    """The C compiler command that setuptools (and therefore cffi) will use."""
    return shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")


@lru_cache(maxsize=None)
def compiler_version() -> str:
    """First line of ``$CC --version``, part of the cache key (a compiler upgrade rebuilds)."""
    cmd = _compiler()[:1] + ["--version"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise CompileError(f"no working C compiler ({' '.join(cmd)}): {exc}") from exc
    return out.splitlines()[0].strip() if out else "unknown"


def source(topic: str) -> str:
    """The text of ``hftos/native/<topic>.c`` (or ``common.h`` for ``topic="common"``).

    Notebooks print this so the reader sees exactly the code that runs.
    """
    names = {p.stem: p for p in NATIVE_DIR.glob("*.c")}
    names["common"] = NATIVE_DIR / "common.h"
    if topic not in names:
        raise ValueError(f"unknown C topic {topic!r}; known: {', '.join(sorted(names))}")
    return names[topic].read_text()


def _key(name: str, cdef: str, src: str) -> str:
    """Hash of everything that can change the compiled module."""
    h = hashlib.sha256()
    for part in (name, cdef, src, (NATIVE_DIR / "common.h").read_text(), " ".join(CFLAGS),
                 " ".join(LIBRARIES), compiler_version(), cffi.__version__,
                 sysconfig.get_config_var("EXT_SUFFIX") or ""):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def compile_module(name: str, cdef: str, src: str, *, filename: str | None = None) -> Compiled:
    """Compile (or load from the cache) a cffi API-mode module from a cdef and C source text.

    ``name`` is a short identifier used in the module name; the real module name is
    ``_hftos_<name>_<hash>``. The source may ``#include "common.h"``. Raises
    :class:`CompileError` with gcc's diagnostics if compilation fails; they name the source
    ``filename`` (default ``<name>.c``) with its own line numbers, not those of the file cffi
    generates around it.
    """
    src = f'#line 1 "{filename or name + ".c"}"\n{src}'
    modname = f"_hftos_{name}_{_key(name, cdef, src)}"
    with _lock:
        if modname in _loaded:
            return _loaded[modname]
        directory = _ready_cache_dir()
        target = directory / (modname + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
        from_cache = target.exists()
        if not from_cache:
            _compile_to(target, modname, cdef, src)
        module = _import(modname, target)
        compiled = Compiled(name, module.ffi, module.lib, target, from_cache)
        _loaded[modname] = compiled
        return compiled


def load(topic: str, cdef: str) -> Compiled:
    """Compile (or load) the topic file ``hftos/native/<topic>.c`` with the given cdef."""
    return compile_module(topic, cdef, source(topic), filename=str(NATIVE_DIR / f"{topic}.c"))


def compile_snippet(cdef: str, source: str) -> Any:
    """Compile a reader's own C: declarations in ``cdef``, definitions in ``source``; returns ``lib``.

    The module name is keyed by a hash of both strings, so editing the snippet really recompiles
    it (Python never re-imports a stale module under the same name)::

        lib = compile_snippet("int add(int, int);", "int add(int a, int b) { return a + b; }")
        lib.add(2, 3)  # -> 5

    Same flags as the course's own C (``-O2 -Wall -Wextra -Werror``). For arrays or structs use
    :func:`compile_module`, which also returns the ``ffi``.
    """
    return compile_module("snippet", cdef, source).lib


def executable(topic: str, *, defines: Sequence[str] = ()) -> Executable:
    """Compile (or find in the cache) ``hftos/native/<topic>.c`` as a standalone program.

    ``defines`` are macro names passed as ``-D<name>``, typically the one that switches on the
    file's ``main()`` (``HFTOS_FORKCOST_MAIN``); the file otherwise is the same text the cffi
    module is built from, so the C a reader sees is the C that runs.
    """
    return compile_executable(topic, source(topic), filename=str(NATIVE_DIR / f"{topic}.c"), defines=defines)


def compile_executable(name: str, src: str, *, filename: str | None = None,
                       defines: Sequence[str] = ()) -> Executable:
    """Compile (or find in the cache) C source text with a ``main()`` into a program.

    The program is ``<cache>/_hftos_exe_<name>_<hash>``, keyed like :func:`compile_module` (source,
    ``common.h``, flags, defines, libraries, compiler version). Compiled with the course's flags
    (``-O2 -Wall -Wextra -Werror``) in a private temporary directory and renamed into place
    atomically, so concurrent builds are safe. Raises :class:`CompileError` with gcc's messages,
    which name ``filename`` (default ``<name>.c``) and its own line numbers.
    """
    for d in defines:
        if not (d and d.replace("_", "a").isalnum() and not d[0].isdigit()):
            raise ValueError(f"a define must be a C identifier, got {d!r}")
    src = f'#line 1 "{filename or name + ".c"}"\n{src}'
    flags = [*CFLAGS, *(f"-D{d}" for d in defines)]
    h = hashlib.sha256()
    for part in ("executable", name, src, (NATIVE_DIR / "common.h").read_text(), " ".join(flags),
                 " ".join(LIBRARIES), " ".join(_compiler()), compiler_version()):
        h.update(part.encode())
        h.update(b"\0")
    directory = _ready_cache_dir()
    target = directory / f"_hftos_exe_{name}_{h.hexdigest()[:16]}"
    if target.exists():
        return Executable(name, target, True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=directory))
    try:
        (tmp / f"{name}.c").write_text(src)
        cmd = [*_compiler(), *flags, "-I", str(NATIVE_DIR), "-o", str(tmp / name), str(tmp / f"{name}.c"),
               *(f"-l{lib}" for lib in LIBRARIES)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise CompileError(f"compiling {name} took longer than {COMPILE_TIMEOUT:.0f} s") from exc
        except OSError as exc:
            raise CompileError(f"no working C compiler ({cmd[0]}): {exc}") from exc
        if proc.returncode != 0:
            raise CompileError(f"compiling {name} failed:\n{(proc.stdout + proc.stderr).strip()}")
        os.replace(tmp / name, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Executable(name, target, False)


def _import(modname: str, path: Path) -> ModuleType:
    """Load an extension module from an explicit path (it is not on ``sys.path``)."""
    loader = importlib.machinery.ExtensionFileLoader(modname, str(path))
    spec = importlib.util.spec_from_file_location(modname, str(path), loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _compile_to(target: Path, modname: str, cdef: str, src: str) -> None:
    """Compile in a child process inside a temporary directory, then atomically rename into place."""
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        request = json.dumps({"modname": modname, "cdef": cdef, "source": src, "tmpdir": str(tmp)})
        try:
            proc = subprocess.run([sys.executable, "-m", "hftos.native.build"], input=request,
                                  capture_output=True, text=True, timeout=COMPILE_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise CompileError(f"compiling {modname} took longer than {COMPILE_TIMEOUT:.0f} s") from exc
        if proc.returncode != 0:
            raise CompileError(f"compiling {modname} failed:\n{_diagnostics(proc.stdout + proc.stderr)}")
        os.replace(proc.stdout.strip().splitlines()[-1], target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _diagnostics(output: str) -> str:
    """The compiler's messages, without setuptools' command echo and Python traceback noise."""
    noise = ("Traceback", "  File ", "running ", "building ", "During handling", "distutils.", "cffi.")
    keep = [ln for ln in output.splitlines()
            if ln.strip() and not ln.startswith(noise)
            and (not ln.startswith("    ") or "|" in ln)]  # keep gcc's source excerpts, drop traceback lines
    return "\n".join(keep)


def _compile_here(modname: str, cdef: str, src: str, tmpdir: str, flags: Sequence[str] = CFLAGS) -> str:
    """Run cffi's compiler in *this* process (the child); returns the path of the built ``.so``."""
    ffi = cffi.FFI()
    ffi.cdef(cdef)
    ffi.set_source(modname, src, include_dirs=[str(NATIVE_DIR)], extra_compile_args=list(flags),
                   libraries=list(LIBRARIES))
    return ffi.compile(tmpdir=tmpdir, verbose=False)


if __name__ == "__main__":  # the compiler child started by _compile_to
    req = json.loads(sys.stdin.read())
    print(_compile_here(req["modname"], req["cdef"], req["source"], req["tmpdir"]))
