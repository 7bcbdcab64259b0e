"""Memory-management simulators for Chapter 2: what the hardware and the kernel do that a reader cannot watch.

One module per concept, each importable and with its own command line (``python -m hftos.memsim.<module>``):

- :mod:`hftos.memsim.pagewalk`: a multi-level page walk over a synthetic page table (x86-64 style);
- :mod:`hftos.memsim.replacement`: page-replacement policies (FIFO, LRU, Clock, enhanced Clock, OPT) on reference
  strings, with Belady's anomaly;
- :mod:`hftos.memsim.tlb`: a set-associative TLB with LRU replacement on an access trace.

All are deterministic (seeded with ``random.Random(seed)`` where they generate input) and raise ``ValueError`` with a
clear message on bad input.
"""
