"""hftos.plot.interrupt_heatmap: one row per source, one column per CPU, zero cells blank, host in the title."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.figure import Figure

from hftos import interrupts, plot

BEFORE = "CPU0 CPU2\nLOC: 100 100 Local timer interrupts\nRES: 5 5 Rescheduling interrupts\n 30: 0 0 PCI-MSI 1-edge eth0\nERR: 0\n"
AFTER = "CPU0 CPU2\nLOC: 600 350 Local timer interrupts\nRES: 5 25 Rescheduling interrupts\n 30: 0 0 PCI-MSI 1-edge eth0\nERR: 0\n"
HOST = {"cpu_model": "Test CPU", "kernel": "6.18.0-test", "virtualization": "none"}


def _rates() -> interrupts.Rates:
    return interrupts.rates(interrupts.parse(BEFORE), interrupts.parse(AFTER), seconds=2.0)


def test_heatmap_shape_labels_and_title() -> None:
    fig = plot.interrupt_heatmap(_rates(), host=HOST)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["CPU0", "CPU2"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["LOC Local timer", "RES Rescheduling", "30 eth0"]
    img = ax.images[0]
    data = img.get_array()
    assert data.shape == (3, 2) and bool(data.mask[2, 0]) and bool(data.mask[1, 0]), "zero cells are masked (white)"
    assert data[0, 0] == 250.0 and data[0, 1] == 125.0
    texts = {t.get_text() for t in ax.texts}
    assert {"250", "125", "10"} <= texts
    assert "per second" in ax.get_title(loc="left") and len(fig.axes) == 2  # the colour bar
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"


def test_top_linear_and_no_annotation() -> None:
    fig = plot.interrupt_heatmap(_rates(), top=1, log=False, annotate=False, title="busiest")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["LOC Local timer"] and not ax.texts
    assert ax.get_title(loc="left") == "busiest"


def test_duck_typed_input_and_all_zero() -> None:
    class R:
        labels = ["a", "b"]
        cpus = [0]
        matrix = np.zeros((2, 1))
    fig = plot.interrupt_heatmap(R(), top=None)
    assert fig.axes[0].images[0].get_array().mask.all()


@pytest.mark.parametrize("matrix", [np.zeros((0, 2)), np.array([[1.0, -1.0]]), np.array([[np.nan, 1.0]])])
def test_bad_input(matrix: np.ndarray) -> None:
    class R:
        labels = ["x"] * matrix.shape[0]
        cpus = [0, 1]
    R.matrix = matrix
    with pytest.raises(ValueError):
        plot.interrupt_heatmap(R(), top=None)
    with pytest.raises(ValueError):
        plot.interrupt_heatmap(_rates(), top=0)
