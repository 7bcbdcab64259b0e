"""The measurement harness: raw samples in, percentiles, plots and provenance out.

Every live number in the course goes through this module (conventions §3):

- a :class:`Result` keeps the *raw samples* (nanoseconds unless ``unit`` says otherwise),
  the *method* (clock, pinning, iterations, ...) and the *host fingerprint*;
- :class:`Stats` reports min, p50, p90, p99, p99.9, max and the count, never a mean alone;
- :func:`budget` reads ``HFTOS_BUDGET`` so notebooks run in about a minute by default and
  longer with ``HFTOS_BUDGET=full``, through the same code path.

C measurements (``hftos.native``) return arrays of samples and wrap them with
:meth:`Result.from_samples`; Python callables are timed with :func:`measure`, several variants
interleaved with :func:`compare` (so drift hits all of them alike). :func:`table` renders a
percentile table (HTML in a notebook, text elsewhere); :func:`progress` shows a bar only for work
longer than 2 s; :meth:`Result.save`/:meth:`Result.load` keep recorded results with their host.
"""

from __future__ import annotations

import gc
import gzip
import html
import itertools
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar

import numpy as np

__all__ = [
    "PERCENTILES", "BUDGETS", "budget", "scaled", "Stats", "Result", "measure", "compare",
    "interleave_schedule", "progress", "Progress", "table", "Table", "summary", "TIME_UNITS",
]

T = TypeVar("T")

#: Percentiles every result reports, as (label, quantile in percent).
PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p90", 90.0),
    ("p99", 99.0),
    ("p99.9", 99.9),
)

#: Recognised values of ``HFTOS_BUDGET``.
BUDGETS = ("smoke", "default", "full")

#: Time units understood by :meth:`Result.in_unit`, in nanoseconds.
TIME_UNITS: dict[str, float] = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
_UNIT_ALIASES = {"µs": "us", "μs": "us", "usec": "us", "nsec": "ns", "msec": "ms", "sec": "s"}

#: Marker written by :meth:`Result.save`.
RESULT_FORMAT = "hftos.result/1"


def _time_unit(unit: str) -> str:
    u = _UNIT_ALIASES.get(unit, unit)
    if u not in TIME_UNITS:
        raise ValueError(f"{unit!r} is not a time unit ({', '.join(TIME_UNITS)}, µs)")
    return u


def budget() -> str:
    """Return the run budget from ``HFTOS_BUDGET``: ``smoke``, ``default`` or ``full``.

    ``default`` (also when unset) keeps each notebook to about a minute on a 2-core machine;
    ``full`` runs the long versions; ``smoke`` is the smallest run that still exercises every
    code path (used by tests). An unknown value raises ``ValueError`` rather than silently
    running the wrong size.
    """
    value = os.environ.get("HFTOS_BUDGET", "default").strip().lower() or "default"
    if value not in BUDGETS:
        raise ValueError(f"HFTOS_BUDGET={value!r} is not one of {', '.join(BUDGETS)}")
    return value


def scaled(default: int, *, full: int | None = None, smoke: int | None = None) -> int:
    """Pick an iteration count for the current :func:`budget`.

    ``full`` defaults to ten times ``default``; ``smoke`` to a tenth (at least 1).
    """
    if default < 1:
        raise ValueError(f"default must be >= 1, got {default}")
    b = budget()
    if b == "full":
        return int(full if full is not None else default * 10)
    if b == "smoke":
        return int(smoke if smoke is not None else max(1, default // 10))
    return int(default)


@dataclass(frozen=True)
class Stats:
    """Order statistics of one sample set. All values are in the result's unit."""

    count: int
    min: float
    p50: float
    p90: float
    p99: float
    p999: float
    max: float
    mean: float

    @classmethod
    def of(cls, samples: Sequence[float] | np.ndarray) -> "Stats":
        """Compute the statistics of ``samples`` (must be non-empty and finite)."""
        a = np.asarray(samples, dtype=float)
        if a.size == 0:
            raise ValueError("cannot summarise an empty sample set")
        if not np.all(np.isfinite(a)):
            raise ValueError("samples contain NaN or infinity")
        q = np.percentile(a, [p for _, p in PERCENTILES])
        return cls(
            count=int(a.size),
            min=float(a.min()),
            p50=float(q[0]),
            p90=float(q[1]),
            p99=float(q[2]),
            p999=float(q[3]),
            max=float(a.max()),
            mean=float(a.mean()),
        )

    def as_dict(self) -> dict[str, float | int]:
        """The statistics with the labels used in tables (``p99.9`` rather than ``p999``)."""
        return {
            "count": self.count,
            "min": self.min,
            "p50": self.p50,
            "p90": self.p90,
            "p99": self.p99,
            "p99.9": self.p999,
            "max": self.max,
        }


@dataclass
class Result:
    """One measurement: raw samples plus how and where they were taken.

    ``samples`` are per-event values (one per timed operation, already divided by any
    inner-loop count) in ``unit`` (``"ns"`` unless stated). ``method`` records how: the clock,
    CPUs used, iterations, warm-up, inner batch size. ``host`` is
    :func:`hftos.host.fingerprint` at the time of the run.
    """

    name: str
    samples: np.ndarray
    unit: str = "ns"
    method: dict[str, Any] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.samples = np.asarray(self.samples, dtype=float)
        if self.samples.ndim != 1:
            raise ValueError(f"{self.name}: samples must be one-dimensional")

    @classmethod
    def from_samples(
        cls,
        name: str,
        samples: Iterable[float] | np.ndarray,
        *,
        unit: str = "ns",
        method: Mapping[str, Any] | None = None,
        host: Mapping[str, Any] | None = None,
    ) -> "Result":
        """Wrap raw samples; attaches the host fingerprint unless one is given."""
        if host is None:
            from hftos import host as _host  # local import: host probing reads /proc and /sys

            host = _host.fingerprint()
        return cls(name, np.fromiter(samples, dtype=float) if not isinstance(samples, np.ndarray) else samples,
                   unit, dict(method or {}), dict(host))

    @property
    def stats(self) -> Stats:
        """Order statistics of :attr:`samples`."""
        return Stats.of(self.samples)

    def to_dict(self, *, with_samples: bool = False) -> dict[str, Any]:
        """A JSON-ready summary (optionally with the raw samples)."""
        d: dict[str, Any] = {
            "name": self.name,
            "unit": self.unit,
            "stats": self.stats.as_dict(),
            "method": self.method,
            "host": self.host,
        }
        if with_samples:
            d["samples"] = self.samples.tolist()
        return d

    # -- unit conversion ------------------------------------------------------------------------
    def scaled(self, factor: float, unit: str) -> "Result":
        """A copy with every sample multiplied by ``factor`` and the unit renamed to ``unit``.

        For example ``r.scaled(1e-3, "us")`` turns nanoseconds into microseconds, or
        ``r.scaled(1 / 2.9, "cycles")`` turns ns into cycles at 2.9 GHz. ``method["scaled"]``
        records the factor (multiplied into any earlier one).
        """
        if not math.isfinite(factor) or factor == 0:
            raise ValueError(f"scale factor must be finite and non-zero, got {factor}")
        method = dict(self.method)
        method["scaled"] = float(method.get("scaled", 1.0)) * factor
        return Result(self.name, self.samples * factor, unit, method, dict(self.host))

    def in_unit(self, unit: str) -> "Result":
        """The same result in another time unit: ``"ns"``, ``"us"`` (or ``"µs"``), ``"ms"``, ``"s"``."""
        src, dst = _time_unit(self.unit), _time_unit(unit)
        if src == dst:
            return Result(self.name, self.samples.copy(), unit, dict(self.method), dict(self.host))
        return self.scaled(TIME_UNITS[src] / TIME_UNITS[dst], unit)

    # -- files --------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the result (raw samples, method, host, and the statistics for readers) as JSON.

        A path ending in ``.gz`` is gzip-compressed. Used for the recorded fallback results shipped
        with the course: the ``host`` fingerprint says where they were recorded.
        """
        p = Path(path)
        d = self.to_dict(with_samples=True)
        d = {"format": RESULT_FORMAT, **d, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        text = json.dumps(d, indent=1, allow_nan=False)
        if p.suffix == ".gz":
            with gzip.open(p, "wt", encoding="utf-8") as f:
                f.write(text)
        else:
            p.write_text(text, encoding="utf-8")
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Result":
        """Read a result written by :meth:`save` (the host is the one stored, not this machine's)."""
        p = Path(path)
        if p.suffix == ".gz":
            with gzip.open(p, "rt", encoding="utf-8") as f:
                d = json.load(f)
        else:
            d = json.loads(p.read_text(encoding="utf-8"))
        if not isinstance(d, dict) or "samples" not in d or "name" not in d:
            raise ValueError(f"{p}: not a saved hftos Result (needs 'name' and 'samples')")
        return cls(str(d["name"]), np.asarray(d["samples"], dtype=float), str(d.get("unit", "ns")),
                   dict(d.get("method") or {}), dict(d.get("host") or {}))

    def provenance(self) -> str:
        """One line saying where the result was measured, e.g. for a recorded fallback's caption."""
        h = self.host
        if not h:
            return "host unknown"
        parts = [str(h.get("cpu_model") or "unknown CPU")]
        if h.get("cpus"):
            parts.append(f"{h['cpus']} CPUs")
        if h.get("kernel"):
            parts.append(f"Linux {h['kernel']}")
        if h.get("virt"):
            parts.append(str(h["virt"]))
        if h.get("container") not in (None, "none detected", "unknown"):
            parts.append(f"container: {h['container']}")
        return ", ".join(parts)

    def __repr__(self) -> str:  # short, so a notebook cell ending in a Result stays readable
        s = self.stats
        return (f"Result({self.name!r}: n={s.count}, min={_fmt(s.min)}, p50={_fmt(s.p50)}, "
                f"p99={_fmt(s.p99)}, p99.9={_fmt(s.p999)}, max={_fmt(s.max)} {self.unit})")


def _fmt(x: float) -> str:
    """Format a number with 3-4 significant digits, no scientific notation for common ranges.

    ``1234567 -> "1,235,000"``, ``1234.5 -> "1,234"``, ``123.4 -> "123"``, ``12.34 -> "12.3"``,
    ``1.234 -> "1.23"``, ``0.01234 -> "0.0123"``.
    """
    if not math.isfinite(x):
        return str(x)
    ax = abs(x)
    if ax >= 10_000:
        digits = int(math.floor(math.log10(ax))) + 1
        return f"{round(x, 4 - digits):,.0f}"
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1 or ax == 0:
        return f"{x:.2f}"
    return f"{x:.3g}"


# ----------------------------------------------------------------------------------------------
# progress
# ----------------------------------------------------------------------------------------------

def _in_kernel() -> bool:
    """True inside a Jupyter kernel (not plain terminal IPython, not a script)."""
    ip_mod = sys.modules.get("IPython")
    if ip_mod is None:
        return False
    try:
        ip = ip_mod.get_ipython()
    except Exception:  # pragma: no cover - a broken IPython install must not stop a measurement
        return False
    return ip is not None and getattr(ip, "kernel", None) is not None


class Progress:
    """A progress indicator that appears only for long work (see :func:`progress`).

    Nothing is shown during the first ``delay`` seconds; the first :meth:`update` after that
    creates the display: an ipywidgets bar in a Jupyter kernel (or a ``\\r``-updated stderr line if
    ipywidgets is missing), a single updating line on stderr in a terminal, nothing when stderr is
    not a terminal. ``HFTOS_PROGRESS=off`` disables it. Use as a context manager or iterate it.
    """

    def __init__(self, total: int | None = None, desc: str = "", *, delay: float = 2.0,
                 file: IO[str] | None = None, iterable: Iterable[Any] | None = None,
                 min_interval: float = 0.2) -> None:
        self.total = total
        self.desc = desc
        self.n = 0
        self.delay = delay
        self.file = file
        self.min_interval = min_interval
        self.mode: str | None = None  # None (not shown), "widget", "line" or "off"
        self._iterable = iterable
        self._t0 = time.monotonic()
        self._last = 0.0
        self._width = 0
        self._closed = False
        self._widgets: tuple[Any, Any] | None = None
        if os.environ.get("HFTOS_PROGRESS", "").strip().lower() in ("0", "off", "no", "false"):
            self.mode = "off"

    # -- public -------------------------------------------------------------------------------------
    @property
    def shown(self) -> bool:
        """Whether anything has been displayed."""
        return self.mode in ("widget", "line")

    def update(self, k: int = 1) -> None:
        """Record ``k`` more units of work; shows or refreshes the display when due."""
        self.n += k
        if self.mode == "off" or self._closed:
            return
        now = time.monotonic()
        if self.mode is None:
            if now - self._t0 < self.delay:
                return
            self._show()
            if not self.shown:
                return
        if now - self._last >= self.min_interval:
            self._render(now, final=False)

    def close(self, failed: bool = False) -> None:
        """Finish the display (if any was shown). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self.shown:
            self._render(time.monotonic(), final=True, failed=failed)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(failed=et is not None)

    def __iter__(self) -> Iterator[Any]:
        if self._iterable is None:
            raise TypeError("this Progress wraps no iterable; call update() instead")
        ok = False
        try:
            for item in self._iterable:
                yield item
                self.update(1)
            ok = True
        finally:
            self.close(failed=not ok)

    # -- display ------------------------------------------------------------------------------------
    def _text(self, now: float, final: bool, failed: bool = False) -> str:
        el = now - self._t0
        head = f"{self.desc}: " if self.desc else ""
        if self.total:
            pct = 100.0 * self.n / self.total
            s = f"{head}{self.n}/{self.total} ({pct:.0f}%), {el:.1f} s"
            if not final and 0 < self.n < self.total:
                s += f", ~{el * (self.total - self.n) / self.n:.0f} s left"
        else:
            s = f"{head}{self.n}, {el:.1f} s"
        if final:
            s += " (interrupted)" if failed else " (done)"
        return s

    def _show(self) -> None:
        if self.file is not None:
            self.mode = "line"
            return
        if _in_kernel():
            try:
                import ipywidgets as w
                from IPython.display import display

                bar = w.IntProgress(value=0, min=0, max=max(1, self.total or 1),
                                    bar_style="" if self.total else "info")
                label = w.Label(value=self.desc)
                display(w.HBox([bar, label]))
                self._widgets = (bar, label)
                self.mode = "widget"
                return
            except Exception:  # no ipywidgets / no frontend: fall back to a stream line
                self.file = sys.stderr
                self.mode = "line"
                return
        stream = sys.stderr
        try:
            tty = stream is not None and stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        if tty:
            self.file = stream
            self.mode = "line"
        else:
            self.mode = "off"

    def _render(self, now: float, final: bool, failed: bool = False) -> None:
        self._last = now
        text = self._text(now, final, failed)
        try:
            if self.mode == "widget" and self._widgets is not None:
                bar, label = self._widgets
                bar.value = min(self.n, bar.max) if self.total else bar.max
                label.value = text
                if final:
                    bar.bar_style = "danger" if failed else "success"
            elif self.mode == "line" and self.file is not None:
                pad = max(0, self._width - len(text))
                self._width = len(text)
                self.file.write("\r" + text + " " * pad + ("\n" if final else ""))
                self.file.flush()
        except Exception:  # a closed stream or a dead widget must never break a measurement
            self.mode = "off"


def progress(total: int | Iterable[T] | None = None, desc: str = "", *, delay: float = 2.0,
             file: IO[str] | None = None) -> Progress:
    """Show progress for work that runs longer than ``delay`` seconds (2 s by default).

    Two forms::

        with progress(n, "sampling") as p:      # count by hand
            for i in range(n):
                ...; p.update()

        for x in progress(items, "variants"):   # wrap an iterable (its len() is the total)
            ...

    Under ``delay`` seconds nothing at all is printed or displayed. After that: an ipywidgets
    progress bar in JupyterLab, a single ``\\r``-updated line on stderr in a terminal (or on
    ``file`` if given), nothing when stderr is not a terminal or ``HFTOS_PROGRESS=off``.
    """
    if total is None or isinstance(total, int):
        return Progress(total, desc, delay=delay, file=file)
    try:
        n: int | None = len(total)  # type: ignore[arg-type]
    except TypeError:
        n = None
    return Progress(n, desc, delay=delay, file=file, iterable=total)


def wait(seconds: float, desc: str = "waiting") -> None:
    """Sleep ``seconds`` (a measurement window), with a :func:`progress` display if it lasts over 2 s."""
    if seconds < 0:
        raise ValueError(f"cannot wait a negative time ({seconds} s)")
    deadline = time.monotonic() + seconds
    with progress(max(1, math.ceil(seconds / 0.1)), desc) as bar:
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(0.1, left))
            bar.update()


# ----------------------------------------------------------------------------------------------
# timing Python callables
# ----------------------------------------------------------------------------------------------

def _clock_name() -> str:
    impl = time.get_clock_info("perf_counter").implementation
    inner = impl[impl.find("(") + 1: impl.rfind(")")] if "(" in impl else impl
    return f"perf_counter_ns ({inner})"


def _affinity() -> list[int] | None:
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def _timer_overhead_ns(reps: int = 200) -> int:
    """Smallest difference between two back-to-back ``perf_counter_ns`` calls (ns)."""
    pc = time.perf_counter_ns
    best = None
    for _ in range(reps):
        t0 = pc()
        t1 = pc()
        d = t1 - t0
        if best is None or d < best:
            best = d
    return int(best or 0)


def _time_block(fn: Callable[[], Any], n: int, inner: int, setup: Callable[[], Any] | None,
                out: np.ndarray, start: int) -> None:
    """Time ``n`` samples of ``inner`` calls each into ``out[start:start+n]`` (raw ns per sample)."""
    pc = time.perf_counter_ns
    rep = itertools.repeat
    if setup is None and inner == 1:
        for k in range(start, start + n):
            t0 = pc()
            fn()
            out[k] = pc() - t0
    elif inner == 1:
        for k in range(start, start + n):
            setup()  # type: ignore[misc]
            t0 = pc()
            fn()
            out[k] = pc() - t0
    else:
        for k in range(start, start + n):
            if setup is not None:
                setup()
            t0 = pc()
            for _ in rep(None, inner):
                fn()
            out[k] = pc() - t0


class _Conditions:
    """Pin the calling thread and/or pause the garbage collector for the duration of a run."""

    def __init__(self, cpu: int | None, disable_gc: bool) -> None:
        self.cpu, self.disable_gc = cpu, disable_gc
        self._old_aff: set[int] | None = None
        self._gc_was = False

    def __enter__(self) -> "_Conditions":
        if self.cpu is not None:
            self._old_aff = os.sched_getaffinity(0)
            os.sched_setaffinity(0, {self.cpu})  # this thread only; restored on exit
        self._gc_was = gc.isenabled()
        if self.disable_gc:
            gc.disable()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.disable_gc and self._gc_was:
            gc.enable()
        if self._old_aff is not None:
            os.sched_setaffinity(0, self._old_aff)


def _base_method(n: int, warmup: int, inner: int, setup: Any, cpu: int | None, disable_gc: bool) -> dict[str, Any]:
    return {
        "clock": _clock_name(),
        "timer_overhead_ns": _timer_overhead_ns(),
        "n": n,
        "warmup": warmup,
        "inner": inner,
        "setup": None if setup is None else getattr(setup, "__name__", repr(setup)),
        "cpus": [cpu] if cpu is not None else _affinity(),
        "pinned": cpu is not None,
        "gc": "disabled while timing" if disable_gc else "enabled",
        "budget": budget(),
        "python": sys.version.split()[0],
    }


def measure(fn: Callable[[], Any], *, name: str, n: int | None = None, warmup: int | None = None,
            inner: int = 1, setup: Callable[[], Any] | None = None, cpu: int | None = None,
            disable_gc: bool = True, host: Mapping[str, Any] | None = None) -> Result:
    """Time a Python callable: ``n`` samples after ``warmup`` discarded runs, raw samples kept.

    Each sample times ``inner`` back-to-back calls of ``fn()`` with ``time.perf_counter_ns``
    (``CLOCK_MONOTONIC`` on Linux) and stores ``elapsed / inner`` in ns, so ``inner > 1`` trades
    per-call tail resolution for less timer overhead (the ``method`` records both the batch and
    the timer overhead). ``setup()``, if given, runs untimed before every sample (warm-up
    included). ``n`` defaults to ``scaled(1000)`` (100 under ``HFTOS_BUDGET=smoke``), ``warmup`` to
    ``max(1, n // 10)``. ``cpu`` pins the *calling thread* to that CPU for the run and restores its
    affinity afterwards. The garbage collector is paused while timing unless ``disable_gc=False``.
    A progress bar appears if the run takes longer than 2 s.
    """
    if inner < 1:
        raise ValueError(f"inner must be >= 1, got {inner}")
    n = scaled(1000, smoke=100) if n is None else int(n)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    warmup = max(1, n // 10) if warmup is None else int(warmup)
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    method = _base_method(n, warmup, inner, setup, cpu, disable_gc)
    raw = np.empty(max(n, warmup), dtype=np.int64)
    chunk = max(1, min(n // 50, 10_000))
    with _Conditions(cpu, disable_gc), progress(n + warmup, name) as bar:
        if warmup:
            _time_block(fn, warmup, inner, setup, raw, 0)  # discarded
            bar.update(warmup)
        done = 0
        while done < n:
            k = min(chunk, n - done)
            _time_block(fn, k, inner, setup, raw, done)
            done += k
            bar.update(k)
    samples = raw[:n].astype(float) / inner
    return Result.from_samples(name, samples, unit="ns", method=method, host=host)


#: Orders accepted by :func:`compare` and :func:`interleave_schedule`.
ORDERS = ("shuffle", "alternate", "rotate")


def interleave_schedule(names: Sequence[str], rounds: int, *, seed: int = 0,
                        order: str = "shuffle") -> list[list[str]]:
    """The order in which :func:`compare` runs its variants, round by round (deterministic).

    ``"shuffle"``: a fresh permutation per round from ``random.Random(seed)``; ``"alternate"``:
    forward on even rounds, reversed on odd (A B C, C B A, ...); ``"rotate"``: a cyclic shift per
    round (A B C, B C A, C A B), so each variant takes each position equally often.
    """
    names = list(names)
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    rng = random.Random(seed)
    out: list[list[str]] = []
    for r in range(rounds):
        if order == "shuffle":
            perm = names[:]
            rng.shuffle(perm)
        elif order == "alternate":
            perm = names[:] if r % 2 == 0 else names[::-1]
        else:
            k = r % len(names) if names else 0
            perm = names[k:] + names[:k]
        out.append(perm)
    return out


def compare(fns: Mapping[str, Callable[[], Any]], *, rounds: int | None = None,
            n_per_round: int | None = None, warmup: int | None = None, inner: int = 1,
            setup: Callable[[], Any] | None = None, seed: int = 0, order: str = "shuffle",
            cpu: int | None = None, disable_gc: bool = True,
            host: Mapping[str, Any] | None = None) -> dict[str, Result]:
    """Measure several variants interleaved, so drift (frequency, noise, caches) hits all equally.

    The run is ``rounds`` rounds; in each, every variant times a block of ``n_per_round`` samples,
    the variants taking turns in the order given by :func:`interleave_schedule` (``seed`` and
    ``order``: ``"shuffle"`` by default). Before the first round each variant runs ``warmup``
    discarded calls. Every variant gets exactly ``rounds * n_per_round`` samples, stored round by
    round (sample ``i`` belongs to round ``i // n_per_round``). ``rounds`` defaults to
    ``scaled(20, smoke=4)``, ``n_per_round`` to ``scaled(100, smoke=25)``. Other arguments as in
    :func:`measure`. Returns ``{name: Result}`` in the order of ``fns``.
    """
    if not fns:
        raise ValueError("compare() needs at least one variant")
    if inner < 1:
        raise ValueError(f"inner must be >= 1, got {inner}")
    names = list(fns)
    rounds = scaled(20, smoke=4) if rounds is None else int(rounds)
    n_per_round = scaled(100, smoke=25) if n_per_round is None else int(n_per_round)
    if rounds < 1 or n_per_round < 1:
        raise ValueError("rounds and n_per_round must be >= 1")
    n = rounds * n_per_round
    warmup = max(1, n_per_round // 10) if warmup is None else int(warmup)
    schedule = interleave_schedule(names, rounds, seed=seed, order=order)
    base = _base_method(n, warmup, inner, setup, cpu, disable_gc)
    raw = {k: np.empty(max(n, warmup), dtype=np.int64) for k in names}
    with _Conditions(cpu, disable_gc), progress(rounds * len(names), "compare " + ", ".join(names)) as bar:
        for k in names:
            if warmup:
                _time_block(fns[k], warmup, inner, setup, raw[k], 0)  # discarded
        for r, perm in enumerate(schedule):
            for k in perm:
                _time_block(fns[k], n_per_round, inner, setup, raw[k], r * n_per_round)
                bar.update(1)
    if host is None:
        from hftos import host as _host

        host = _host.fingerprint()
    results: dict[str, Result] = {}
    for k in names:
        method = dict(base)
        method.update({
            "interleave": f"{rounds} rounds x {len(names)} variants, blocks of {n_per_round} samples",
            "order": order,
            "seed": seed,
            "rounds": rounds,
            "n_per_round": n_per_round,
            "variants": names,
            "schedule_head": schedule[:3],
        })
        results[k] = Result.from_samples(k, raw[k][:n].astype(float) / inner, unit="ns", method=method,
                                         host=host)
    return results


# ----------------------------------------------------------------------------------------------
# tables
# ----------------------------------------------------------------------------------------------

#: Columns of :class:`Table`.
TABLE_COLUMNS = ("name", "count", "min", "p50", "p90", "p99", "p99.9", "max", "unit")


@dataclass(frozen=True)
class Table:
    """Percentile table of several results: ``_repr_html_`` in a notebook, aligned ``str`` elsewhere.

    ``rows`` hold formatted strings (3-4 significant digits); ``stats`` the unformatted numbers.
    """

    rows: tuple[tuple[str, ...], ...]
    stats: tuple[dict[str, Any], ...]
    columns: tuple[str, ...] = TABLE_COLUMNS
    #: Where the samples were taken ("measured on ..."), from the results' host fingerprints.
    caption: str = ""

    def __str__(self) -> str:
        cells = [self.columns, *self.rows]
        widths = [max(len(r[c]) for r in cells) for c in range(len(self.columns))]
        lines = []
        for i, r in enumerate(cells):
            parts = [r[0].ljust(widths[0])]
            parts += [r[c].rjust(widths[c]) for c in range(1, len(r) - 1)]
            parts.append(r[-1].ljust(widths[-1]))
            lines.append("  ".join(parts).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        if self.caption:
            lines.append(self.caption)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        th = "".join(f'<th style="text-align:{"left" if c in ("name", "unit") else "right"};padding:2px 8px">'
                     f"{html.escape(c)}</th>" for c in self.columns)
        body = []
        for r in self.rows:
            tds = "".join(
                f'<td style="text-align:{"left" if j in (0, len(r) - 1) else "right"};padding:2px 8px;'
                f'font-variant-numeric:tabular-nums">{html.escape(v)}</td>' for j, v in enumerate(r))
            body.append(f"<tr>{tds}</tr>")
        caption = (f'<caption style="caption-side:bottom;text-align:left;font-size:0.85em">'
                   f"{html.escape(self.caption)}</caption>" if self.caption else "")
        return (f'<table class="hftos-table" style="border-collapse:collapse;font-size:0.9em">{caption}'
                f"<thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def table(results: Iterable[Result] | Mapping[str, Result] | Result, *, unit: str | None = None) -> Table:
    """One row per result: name, count, min, p50, p90, p99, p99.9, max, unit; captioned with the host(s).

    Accepts a list of results, a ``{label: Result}`` dict (labels replace names), or a single
    result. ``unit`` converts time results first (e.g. ``unit="us"``).
    """
    if isinstance(results, Result):
        items: list[tuple[str, Result]] = [(results.name, results)]
    elif isinstance(results, Mapping):
        items = [(str(k), v) for k, v in results.items()]
    else:
        items = [(r.name, r) for r in results]
    rows, stats = [], []
    for label, r in items:
        if unit is not None:
            r = r.in_unit(unit)
        s = r.stats.as_dict()
        stats.append({"name": label, **s, "unit": r.unit})
        rows.append((label, str(s["count"]), *(_fmt(float(s[c])) for c in TABLE_COLUMNS[2:-1]), r.unit))
    from hftos.host import label as host_label  # local: the host module probes /proc and /sys on use

    hosts = list(dict.fromkeys(host_label(r.host) for _, r in items if r.host))
    caption = f"measured on {'; '.join(hosts)}" if hosts else ""
    return Table(tuple(rows), tuple(stats), caption=caption)


def summary(result: Result) -> str:
    """One text line: ``name: n=1000, min 41.0, p50 43.2, p99 60.1, p99.9 88.0, max 120 ns``."""
    s = result.stats
    return (f"{result.name}: n={s.count}, min {_fmt(s.min)}, p50 {_fmt(s.p50)}, p90 {_fmt(s.p90)}, "
            f"p99 {_fmt(s.p99)}, p99.9 {_fmt(s.p999)}, max {_fmt(s.max)} {result.unit}")
