"""Charts drawn on the server as inline SVG geometry: no script, no build step, readable on a phone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

WIDTH = 600
HEIGHT = 180
PAD_LEFT = 8
PAD_BOTTOM = 22


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str


@dataclass(frozen=True)
class Series:
    name: str
    points: str  # an SVG polyline's "x,y x,y ..."
    css_class: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    lines: list[Series]
    x_labels: list[tuple[float, str]]
    maximum: str
    empty: bool


def bar_chart(labels: Sequence[str], values: Sequence[int | Decimal], *, value_format: str = "{}") -> Chart:
    """One bar per label (e.g. a day); the tallest bar fills the height."""
    top = max([Decimal(v) for v in values] + [Decimal(0)])
    n = max(len(values), 1)
    slot = (WIDTH - PAD_LEFT) / n
    usable = HEIGHT - PAD_BOTTOM - 4
    bars = []
    for i, (label, value) in enumerate(zip(labels, values)):
        h = float(Decimal(value) / top * usable) if top else 0.0
        bars.append(Bar(x=PAD_LEFT + i * slot + slot * 0.15, y=HEIGHT - PAD_BOTTOM - h, width=slot * 0.7, height=h,
                        label=label, value=value_format.format(value)))
    return Chart(WIDTH, HEIGHT, bars, [], _x_labels(labels, slot), value_format.format(top), empty=not top)


def line_chart(labels: Sequence[str], series: Sequence[tuple[str, Sequence[int | Decimal]]],
               *, value_format: str = "{}") -> Chart:
    """Several named series over the same labels; each gets a CSS class `series-N` for its colour."""
    everything = [Decimal(v) for _, values in series for v in values]
    top = max(everything + [Decimal(0)])
    bottom = min(everything + [Decimal(0)])
    span = (top - bottom) or Decimal(1)
    n = max(len(labels), 1)
    slot = (WIDTH - PAD_LEFT) / n
    usable = HEIGHT - PAD_BOTTOM - 4
    lines = []
    for index, (name, values) in enumerate(series):
        points = " ".join(f"{PAD_LEFT + i * slot + slot / 2:.1f},{HEIGHT - PAD_BOTTOM - float((Decimal(v) - bottom) / span * usable):.1f}"
                          for i, v in enumerate(values))
        lines.append(Series(name=name, points=points, css_class=f"series-{index}"))
    return Chart(WIDTH, HEIGHT, [], lines, _x_labels(labels, slot), value_format.format(top),
                 empty=not any(everything))


def _x_labels(labels: Sequence[str], slot: float) -> list[tuple[float, str]]:
    step = max(1, len(labels) // 6)  # at most ~7 labels, so they stay legible on a phone
    return [(PAD_LEFT + i * slot + slot / 2, label) for i, label in enumerate(labels) if i % step == 0]
