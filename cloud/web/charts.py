"""Bar charts as server-rendered SVG (no JavaScript library): built from numbers, every label escaped.

Each chart has a <title> and <desc> for screen readers, and a table of the same figures sits beside it
on the page.
"""

from __future__ import annotations

from html import escape

from markupsafe import Markup

COLORS = ("#0b5394", "#b45f06")  # dark blue, dark orange: both readable on white, told apart by shape too


def bars(title: str, labels: list[str], series: list[tuple[str, list[float]]], *, unit: str = "",
         width: int = 640, height: int = 220) -> Markup:
    """Grouped vertical bars: one group per label, one bar per series."""
    pad_l, pad_b, pad_t = 44, 46, 20
    plot_w, plot_h = width - pad_l - 8, height - pad_b - pad_t
    top = max([v for _, vs in series for v in vs] + [0]) or 1
    n = max(len(labels), 1)
    group_w = plot_w / n
    bar_w = max(group_w * 0.8 / max(len(series), 1), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'aria-labelledby="c-{id(labels)}"><title id="c-{id(labels)}">{escape(title)}</title>',
             f'<desc>{escape(", ".join(f"{lab}: " + "/".join(_fmt(vs[i]) for _, vs in series) for i, lab in enumerate(labels)))}</desc>',
             f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{width - 4}" y2="{pad_t + plot_h}" stroke="#333"/>',
             f'<text x="4" y="{pad_t + 4}" font-size="11" fill="#222">{escape(_fmt(top))}{escape(unit)}</text>',
             f'<text x="4" y="{pad_t + plot_h}" font-size="11" fill="#222">0</text>']
    for i, label in enumerate(labels):
        x0 = pad_l + i * group_w + group_w * 0.1
        for j, (_, values) in enumerate(series):
            v = values[i] if i < len(values) else 0
            h = plot_h * v / top
            parts.append(f'<rect x="{x0 + j * bar_w:.1f}" y="{pad_t + plot_h - h:.1f}" width="{bar_w - 1:.1f}" '
                         f'height="{h:.1f}" fill="{COLORS[j % len(COLORS)]}"><title>{escape(label)}: '
                         f'{escape(_fmt(v))}{escape(unit)}</title></rect>')
        if n <= 16 or i % max(n // 12, 1) == 0:
            parts.append(f'<text x="{x0 + group_w * 0.4:.1f}" y="{pad_t + plot_h + 14}" font-size="10" fill="#222" '
                         f'text-anchor="end" transform="rotate(-35 {x0 + group_w * 0.4:.1f} {pad_t + plot_h + 14})">'
                         f'{escape(label)}</text>')
    for j, (name, _) in enumerate(series if len(series) > 1 else []):
        parts.append(f'<rect x="{pad_l + 8 + j * 90}" y="4" width="10" height="10" fill="{COLORS[j % len(COLORS)]}"/>'
                     f'<text x="{pad_l + 22 + j * 90}" y="13" font-size="11" fill="#222">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _fmt(v: float) -> str:
    return f"{v:.0f}" if float(v).is_integer() or v >= 100 else f"{v:.1f}"
