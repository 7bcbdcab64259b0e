"""``python -m hftos.grade LAB SUBMISSION... --out grades.csv [-j N] [--feedback-dir DIR] [--resume]``.

LAB is a reference notebook (``labs/source/lab01_scheduling.ipynb``) or a lab name (``lab01_scheduling``, looked up
in ``labs/source/``). Each SUBMISSION is a file, a directory (its ``*.ipynb`` files, not recursive) or a glob.
A submission's name (the CSV's first column) is its file name, or its path as given when file names repeat.

Each submission is graded in its own sandbox (:mod:`hftos.grade.autograde`); ``-j`` runs that many at once. Rows are
appended to ``--out`` as submissions finish and the file is rewritten sorted at the end; ``--resume`` keeps the rows
already in ``--out`` (except ``grader error`` ones) and grades only the others. Feedback goes to ``--feedback-dir``
(default: ``<out without .csv>_feedback/``), one Markdown file per submission. Exit code 0 when every submission
was processed (whatever its status), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import glob
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import nbformat

from . import cells as _cells
from . import report
from .autograde import Aborted, Grade, Limits, abort_all, grade_one


def find_lab(lab: str) -> Path:
    p = Path(lab)
    if p.is_file():
        return p
    for base in (Path.cwd() / "labs" / "source", Path(__file__).resolve().parents[2] / "labs" / "source"):
        for cand in (base / lab, base / f"{lab}.ipynb"):
            if cand.is_file():
                return cand
    raise SystemExit(f"error: no lab {lab!r} (a reference notebook path or a name under labs/source/)")


def expand(items: list[str]) -> list[Path]:
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            out += sorted(q for q in p.iterdir() if q.suffix == ".ipynb" and q.is_file())
        elif p.exists():
            out.append(p)
        else:
            matches = sorted(glob.glob(item))
            if not matches:
                raise SystemExit(f"error: no such submission {item!r}")
            out += [Path(m) for m in matches]
    seen: set[Path] = set()
    unique = []
    for p in out:
        if p.resolve() not in seen:
            seen.add(p.resolve())
            unique.append(p)
    return unique


def names(paths: list[Path]) -> list[str]:
    base = [p.name for p in paths]
    return [b if base.count(b) == 1 else str(p) for b, p in zip(base, paths)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hftos.grade", description=__doc__.split("\n\n")[0])
    ap.add_argument("lab")
    ap.add_argument("submissions", nargs="+")
    ap.add_argument("--out", type=Path, default=Path("grades.csv"))
    ap.add_argument("-j", "--jobs", type=int, default=1)
    ap.add_argument("--feedback-dir", type=Path)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--cell-timeout", type=float, default=Limits.cell_timeout, help="seconds per cell")
    ap.add_argument("--timeout", type=float, default=Limits.wall_timeout, help="seconds per submission")
    ap.add_argument("--memory-mb", type=int, default=Limits.memory_bytes // 2 ** 20, help="address-space limit")
    ap.add_argument("--output-kb", type=int, default=Limits.output_bytes // 1024, help="output cap per cell")
    ap.add_argument("--max-procs", type=int, default=Limits.max_processes,
                    help="processes one submission may have at once (more: killed, status 'process limit')")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error("-j must be >= 1")
    lab = find_lab(args.lab)
    reference = nbformat.read(str(lab), as_version=4)
    tasks = list(_cells.tasks(reference))
    title = reference.metadata.get("hftos", {}).get("title", lab.stem)
    paths = expand(args.submissions)
    subs = list(zip(names(paths), paths))
    limits = Limits(cell_timeout=args.cell_timeout, wall_timeout=args.timeout, memory_bytes=args.memory_mb * 2 ** 20,
                    output_bytes=args.output_kb * 1024, max_processes=args.max_procs)
    fb_dir = args.feedback_dir or args.out.with_name(args.out.stem + "_feedback")
    fb_dir.mkdir(parents=True, exist_ok=True)

    done = report.read_csv(args.out, tasks) if args.resume else {}
    rows = {n: r for n, r in done.items() if n in dict(subs)}
    todo = [(n, p) for n, p in subs if n not in rows]
    # Start the incremental file from what is kept.
    report.write_csv(args.out, tasks, rows.values())
    lock = threading.Lock()
    if not args.quiet and done:
        print(f"resuming: {len(rows)} already graded, {len(todo)} to grade", file=sys.stderr)

    def finish(grade: Grade) -> None:
        (fb_dir / report.feedback_name(grade.name)).write_text(report.feedback(grade, title), encoding="utf-8")
        r = report.row(grade)
        with lock:
            rows[grade.name] = r
            report.append_row(args.out, tasks, r)
        if not args.quiet:
            print(f"{grade.name}: {grade.total}/{grade.max_total} {grade.status}", file=sys.stderr)

    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    pool = ThreadPoolExecutor(max_workers=args.jobs)
    try:
        futures = {pool.submit(grade_one, lab, p, n, limits): n for n, p in todo}
        for fut in as_completed(futures):
            finish(fut.result())
    except (KeyboardInterrupt, Aborted):
        abort_all()
        pool.shutdown(wait=True, cancel_futures=True)
        print("interrupted: finished rows are in the table; run again with --resume", file=sys.stderr)
        return 130
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        signal.signal(signal.SIGTERM, previous)
    report.write_csv(args.out, tasks, rows.values())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
