"""Check helpers for the labs: one module per lab (``lab01`` ... ``lab05``) plus :mod:`.common`.

A check cell reloads its lab's module in the same line it uses it::

    import importlib; _c = importlib.reload(importlib.import_module("hftos.grade.labchecks.lab01"))

so an answer cell that redefines or patches a helper changes nothing. A check prints one line starting with
``ok   `` when the answer is right, and otherwise ``FAIL <label>`` followed by what was expected, what came back and
the first difference. The grader never parses these lines: nbval compares the cell's whole output with the
reference notebook's stored output.
"""
