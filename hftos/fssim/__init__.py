"""File-system simulators for Chapter 3: what a crash or a shared file description does, step by step.

One module per concept, each importable and with its own command line (``python -m hftos.fssim.<module>``):

- :mod:`hftos.fssim.journal`: a small journaling model (ordered versus writeback modes) with crash points, showing
  which on-disk states are recoverable;
- :mod:`hftos.fssim.fdtable`: file-descriptor semantics (open, dup, fork, write, lseek, O_APPEND) on a script of
  operations, printing offsets and file contents.

All are deterministic and raise ``ValueError`` with a clear message on bad input.
"""
