"""Cache-coherence and shared-memory synchronisation simulators for Chapter 4.5.

One module per concept, each importable and with its own command line (``python -m hftos.coherence.<module>``):

- :mod:`hftos.coherence.mesi`: the MESI (and MOESI) snooping protocol over a trace of per-core reads and writes:
  per step the line's state in every core, the bus transaction, who supplied the data, and counters (invalidations,
  bus transactions, write-backs, cache-to-cache transfers); trace builders for false sharing, padding, ping-pong and
  producer/consumer;
- :mod:`hftos.coherence.seqlock`: a seqlock writer and its readers interleaved step by step on an explicit or seeded
  random schedule: which read attempts saw a torn record and whether the sequence check caught them.

Both are deterministic (``random.Random(seed)`` only) and raise ``ValueError`` with a clear message on bad input.
"""
