"""Make the small fonts the plate renderer ships with, by subsetting system fonts.

The renderer (:mod:`edge.plate.synth`) must work on a box or CI machine without CJK fonts, so the
project carries subsets holding only plate characters (a few kB each, licences in
``edge/plate/fonts/LICENSES.md``). Run once on a machine with Debian's ``fonts-dejavu-core`` and
``fonts-wqy-microhei``::

    python -m edge.plate.training.fonts
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset

from edge.plate.text import CN_PROVINCES, CN_SPECIAL

LATIN = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.·: "
OUT = Path(__file__).resolve().parent.parent / "fonts"
SOURCES = {
    "latin-condensed-bold.ttf": ("/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf", 0, LATIN),
    "latin-bold.ttf": ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 0, LATIN),
    "latin-mono-bold.ttf": ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf", 0, LATIN),
    "cjk.ttf": ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0, CN_PROVINCES + CN_SPECIAL + LATIN),
}


def make(name: str, src: str, number: int, chars: str) -> Path:
    opts = subset.Options()
    opts.font_number = number
    opts.layout_features = []
    opts.hinting = False
    opts.name_IDs = ["*"]
    font = subset.load_font(src, opts)
    sub = subset.Subsetter(opts)
    sub.populate(text=chars)
    sub.subset(font)
    dest = OUT / name
    subset.save_font(font, str(dest), opts)
    return dest


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (src, number, chars) in SOURCES.items():
        if not Path(src).exists():
            sys.stderr.write(f"missing {src}: apt-get install fonts-dejavu-core fonts-wqy-microhei\n")
            return 1
        dest = make(name, src, number, chars)
        sys.stderr.write(f"{dest} {dest.stat().st_size} bytes\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
