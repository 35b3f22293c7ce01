"""Make the small fonts the plate renderer ships with, by subsetting system fonts.

The renderer (:mod:`edge.plate.synth`) must work on a box or CI machine without CJK fonts, so the
project carries subsets holding only plate characters (a few kB each, licences in
``edge/plate/fonts/LICENSES.md``). Run once on a machine with Debian's ``fonts-dejavu-core`` and
``fonts-wqy-microhei`` (and ``fonts-noto-cjk`` for the Noto Sans subsets; for the web-font ones, run
``npm install --no-save`` with the packages :data:`NPM` names in the current folder first)::

    python -m edge.plate.training.fonts [NAME ...]

Names given: only those subsets are made (the others stay byte for byte as shipped, so the renders
that tests and benchmarks rely on do not move).
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
    # Noto Sans CJK SC (face 2 of the collections), a CJK design unlike WenQuanYi's: a second and third
    # hand for the province character (see edge.plate.synth.CJK_FONTS)
    "cjk-noto-bold.otf": ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2, CN_PROVINCES + CN_SPECIAL),
    "cjk-noto.otf": ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2, CN_PROVINCES + CN_SPECIAL),
    # ZCOOL QingKe HuangYou, a blocky condensed design: a hand kept out of the training mix, to measure
    # how a province in a design the recogniser never saw is read (edge.plate.synth.HELD_OUT_CJK_FONT)
    "cjk-zcool.ttf": ("node_modules/@fontsource/zcool-qingke-huangyou/files/"
                      "zcool-qingke-huangyou-chinese-simplified-400-normal.woff", 0, CN_PROVINCES + CN_SPECIAL),
    # more hands for the training mix, each unlike the others: a bold serif, a thin display serif and a
    # rounded display face (edge.plate.synth.CJK_FONTS)
    "cjk-noto-serif-bold.ttf": ("node_modules/@fontsource/noto-serif-sc/files/"
                                "noto-serif-sc-chinese-simplified-700-normal.woff", 0, CN_PROVINCES + CN_SPECIAL),
    "cjk-xiaowei.ttf": ("node_modules/@fontsource/zcool-xiaowei/files/"
                        "zcool-xiaowei-chinese-simplified-400-normal.woff", 0, CN_PROVINCES + CN_SPECIAL),
    "cjk-kuaile.ttf": ("node_modules/@fontsource/zcool-kuaile/files/"
                       "zcool-kuaile-chinese-simplified-400-normal.woff", 0, CN_PROVINCES + CN_SPECIAL),
}
#: the npm packages (OFL 1.1) the web-font subsets come from
NPM = ("@fontsource/zcool-qingke-huangyou@5.3.0 @fontsource/noto-serif-sc@5.3.0 @fontsource/zcool-xiaowei@5.3.0 "
       "@fontsource/zcool-kuaile@5.3.0")
PACKAGES = f"fonts-dejavu-core fonts-wqy-microhei fonts-noto-cjk (npm: {NPM})"


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
    font.flavor = None  # a web font (WOFF) is saved as a plain font file
    dest = OUT / name
    subset.save_font(font, str(dest), opts)
    return dest


def main(argv: list[str] | None = None) -> int:
    names = list(sys.argv[1:] if argv is None else argv) or list(SOURCES)
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        sys.stderr.write(f"unknown subset {', '.join(unknown)}; known: {', '.join(SOURCES)}\n")
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    for name in names:
        src, number, chars = SOURCES[name]
        if not Path(src).exists():
            sys.stderr.write(f"missing {src}: apt-get install {PACKAGES}\n")
            return 1
        dest = make(name, src, number, chars)
        sys.stderr.write(f"{dest} {dest.stat().st_size} bytes\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
