"""Lab grading: reference notebooks -> student notebooks (:mod:`.release`) and submissions -> points (:mod:`.autograde`).

- :mod:`.cells`: what each cell of a lab is (``metadata.hftos.role``) and what it is worth.
- :mod:`.checks`: the helpers lab check cells call (and the oracles hidden checks use).
- :mod:`.release`: ``python -m hftos.grade.release labs/source/LAB.ipynb -o labs/`` writes the student version.
- :mod:`.autograde`: merge a submission's answer cells into the reference and run it under nbval, sandboxed.
- :mod:`.report`: the CSV and the per-submission feedback.
- ``python -m hftos.grade LAB SUBMISSION... --out grades.csv [-j N] [--resume]`` (:mod:`.__main__`).

``labs/README.md`` is the instructors' guide.
"""
