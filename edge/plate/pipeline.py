"""One frame (or one crop) in, plate reads out: detect → crop → recognise → keep what a grammar accepts."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from edge.plate import deblur, prep, rectify, tighten
from edge.plate.decode import MEND_FROM
from edge.plate.detector import TextDetector
from edge.plate.lines import Candidate, candidates, inside
from edge.plate.recognizer import CropRead, Recognizer
from edge.plate.text import country_of, known_format

#: Zoom of the second, closer look at a frame that should show a plate (see :meth:`read_frame`).
FALLBACK_ZOOM = 1.5
#: A crop read weaker than this (or outside every grammar) gets the detector's help (see read_crop); so
#: does a thorough frame's best read (see read_frame).
RESCUE_BELOW = 0.9
#: A crop read still weaker than this after the detector's help (or outside every grammar) is read again
#: straightened as the upright box of a turned plate (see read_crop).
STRAIGHTEN_BELOW = 0.5
#: The same for a box that looks one-row, as a crop squeezed to a fixed size (94×24) does: a CN plate
#: turned 10° and squeezed reads a character wrong at 0.92-0.95, and nearly level crops read no
#: differently (300 degraded 94×24 CN crops turned ±6°: the same reads at 0.9 and 0.97).
STRAIGHTEN_SQUEEZED_BELOW = 0.97
#: A thorough frame whose surest VN/CN read is weaker than this gets the closer look (see read_frame).
SURE_HOME = 0.8
#: Kinds of a first crop read, for what may replace it (:func:`_kind`).
HOME, KNOWN = "home", "known"
#: The deepest look at a still image (see read_frame): a 1920 px frame seen at 1600 px, in 16 tiles.
DEEP_ZOOM_MAX = 2.5
#: The margin around a weak read's box looked at closely, as a share of its longer side (see _look_at).
LOOK_MARGIN = 0.15


@dataclass(frozen=True)
class FrameRead:
    text: str
    confidence: float
    char_confidence: tuple[float, ...]
    box: tuple[int, int, int, int]  # in the full frame
    rows: int


@dataclass(frozen=True)
class Look:
    """One detector pass over a frame: its plates (best first); for each text, the upright crop its surest
    read came from (kept out of :class:`FrameRead`, which the voter holds frame after frame); and the
    faint plates, reads that fit a grammar below the pipeline's ``min_confidence``, each with its crop
    (see :meth:`PlatePipeline._faint_look`, which ranks those of every pass)."""

    reads: list[FrameRead]
    upright: dict[str, np.ndarray] = field(default_factory=dict)
    faint: list[tuple[FrameRead, np.ndarray]] = field(default_factory=list)


class PlatePipeline:
    """Shares one compiled detector and recogniser; reads of a frame come back best first."""

    def __init__(self, recognizer: Recognizer | None = None, detector: TextDetector | None = None,
                 min_confidence: float = 0.3, fallback_zoom: float = FALLBACK_ZOOM):
        self.recognizer = recognizer or Recognizer()
        self._detector = detector
        self.min_confidence = min_confidence
        self.fallback_zoom = fallback_zoom

    @property
    def detector(self) -> TextDetector:
        if self._detector is None:  # crop-only users never pay for the detector
            self._detector = TextDetector()
        return self._detector

    def read_crop(self, crop: np.ndarray, rows: int | None = None, straighten: bool = True) -> CropRead:
        """A plate crop's read (BGR or grey; ``rows`` given, or told by its shape).

        A read below ``RESCUE_BELOW`` or outside every grammar is first read again cut down to the
        plate's own rectangle (:meth:`_cut_read`, :mod:`edge.plate.tighten`). Still that weak, it is
        often a loose crop of another kind: a tail light above a motorbike plate, or the plate
        off-centre, so the fixed split between a two-row plate's rows cuts through one. The detector
        then finds the plate's lines within the crop (:meth:`TextDetector.stage`), and its best plate
        read wins if it is more confident (and, for a two-row crop, covers both rows). Costs a detector pass on the ~13 % of real crops read that weakly.

        ``rows``, when given, is a hint, and hints are sometimes wrong: a one-row plate cut with the car
        around it looks two-row by shape, and labellers mark it so. When the hinted read is weak, the
        other row count is read too and wins if it reads a plate surely (``RESCUE_BELOW``): a plate
        read the wrong way round comes out as garbage, not as a sure plate. It also wins, fairly sure
        (``MEND_FROM``), in a known plate format where the hinted read is in none.

        A read still weak after that (below ``STRAIGHTEN_BELOW``; in a box that looks one-row, as crops
        squeezed to 94×24 do, below ``STRAIGHTEN_SQUEEZED_BELOW``) may be a turned plate cut at its
        upright box: the crop is read again straightened for a range of turns
        (:mod:`edge.plate.rectify`), and the surest valid view wins if surer (a sure read only by a view
        of the same length: a turned plate read level confuses a character, it does not lose one).
        ``straighten=False`` skips that for a crop already cut level (the upright crops of
        :meth:`read_frame`). A crop that kept its shape and reads fairly is not straightened: real crops
        are level, and a turn guessed for one reads a character wrong as surely as right (2 of the
        held-out crops).
        """
        read = self.recognizer.read(crop, rows)  # an empty crop reads blank
        if crop.size == 0:
            return read
        kind = _kind(read)
        if not (read.valid and read.confidence >= RESCUE_BELOW):
            read = self._cut_read(crop, rows, read)
            kind = HOME if HOME in (kind, _kind(read)) else kind or _kind(read)
        if not (read.valid and read.confidence >= RESCUE_BELOW):
            read = self._rescued(crop, rows, read, kind)
        h, w = crop.shape[:2]
        limit = STRAIGHTEN_SQUEEZED_BELOW if rectify.may_be_squeezed(w / h, rows) else STRAIGHTEN_BELOW
        if not straighten or (read.valid and read.confidence >= limit):
            return read
        # a sure read (a squeezed box's, below STRAIGHTEN_SQUEEZED_BELOW) may only have a character
        # corrected: a turned plate read level confuses one, and a view that loses one is a worse look
        sure = read.valid and read.confidence >= RESCUE_BELOW
        straight = self._straightened(crop, rows, read.confidence if read.valid else 0.0, kind,
                                      length=len(read.text) if sure else None)
        return read if straight is None else straight

    def _cut_read(self, crop: np.ndarray, rows: int | None, read: CropRead) -> CropRead:
        """A weak crop read again cut down to the plate's own rectangle (:mod:`edge.plate.tighten`); the
        cut's read wins as :func:`_cut_wins` says (the 447 audited held-out crops: 426 → 427 read)."""
        cut = tighten.tightened(_bgr(crop))
        if cut is None:
            return read
        again = self.recognizer.read(cut, rows)
        return again if _cut_wins(read, again) else read

    def _rescued(self, crop: np.ndarray, rows: int | None, read: CropRead, kind: str) -> CropRead:
        """A weak crop read after the detector's help (see :meth:`read_crop`)."""
        if rows is not None:
            other = self.recognizer.read(crop, 3 - rows)
            if other.valid and other.confidence >= max(RESCUE_BELOW, read.confidence):
                return other
            # a hinted read in no known plate format loses to a fair read in one the other way round:
            # a two-row plate labelled one-row reads as a short foreign plate ("2E55" of 99-A2 62.95)
            if (known_format(other.text) and not known_format(read.text)
                    and other.confidence >= MEND_FROM):
                return other
        # the rescue keeps two rows only where two rows are known (a hint, or the crop's shape): a crop
        # whose shape allows either was read both ways, and a weak two-row read of it is no evidence
        # (a loose one-row plate read as two rows of garbage, "50Z60780" of 闽B·53F68)
        known = rows is not None or prep.row_candidates(crop.shape[1], crop.shape[0]) == (read.rows,)
        f = self._staged(_bgr(crop), read.rows if known else 0, read.confidence, kind=kind)
        return read if f is None else CropRead(f.text, f.confidence, f.char_confidence, f.rows, True)

    def _straightened(self, crop: np.ndarray, rows: int | None, confidence: float,
                      kind: str, length: int | None = None) -> CropRead | None:
        """The surest plate read of the crop straightened as the upright box of a turned plate
        (:mod:`edge.plate.rectify`), if it is surer than ``confidence`` (of the first read's ``kind``,
        :func:`_of_kind`, and of ``length`` when given). Level views first, in one batch; when
        none reads surely (``RESCUE_BELOW``), a second batch foreshortens the first look's three surest
        turns and no turn at all (:func:`rectify.foreshortened`), and a sure read there wins."""
        h, w = crop.shape[:2]
        if h < 4 or w < 4:
            return None
        shapes = rectify.shapes(w / h, rows)
        views = [rectify.view(crop, r, angle) for angle, r in shapes]
        reads = self.recognizer.read_many(views, [rows] * len(views)) if views else []

        def surest(found: list[CropRead], than: CropRead | None) -> CropRead | None:
            for r in found:
                if not r.valid or not _of_kind(kind, r.text) or length not in (None, len(r.text)):
                    continue
                if than is None or r.confidence > than.confidence:
                    than = r
            return than

        best = surest(reads, None)
        if best is None or best.confidence < RESCUE_BELOW:
            ranked = [s for _, s in sorted(zip(reads, shapes), key=lambda rs: -rs[0].confidence)][:3]
            more = rectify.foreshortened(w / h, rows, ranked)
            again = self.recognizer.read_many([rectify.view(crop, r, a, y) for a, r, y in more],
                                              [rows] * len(more))
            second = surest(again, None)
            if second is not None and second.confidence >= RESCUE_BELOW:
                best = surest([second], best)
        return best if best is not None and best.confidence > confidence else None

    def _staged(self, region: np.ndarray, rows: int, confidence: float, kind: str = "") -> FrameRead | None:
        """The best plate read among the detector's lines in ``region`` set on a frame of the compiled
        shape (:meth:`TextDetector.stage`, which scales a small region up), if it is surer than
        ``confidence`` and, where the first read had two rows (``rows`` 2), has two rows too, and is of
        the first read's ``kind`` (:func:`_of_kind`: a VN/CN read stays VN/CN). Its box is the staged frame's.

        Where the staged frame shows no such plate at all and staging shrank the region, it is looked
        at again closer (``fallback_zoom``, in tiles), as a thorough frame is: a photo-sized crop
        (2048×1536) holds its plate small, and a two-row plate's lines found at that size read no
        better than faint (``38MD105087`` read whole at 0.26, "38MD1" alone at 0.94). A region staging
        scaled up has no more to show closer (turned CN plates' boxes: the same reads, 3× the time)."""
        stage = self.detector.stage(region)
        ch, cw = self.detector.landscape
        shrunk = region.shape[0] > ch or region.shape[1] > cw
        for zoom in (1.0, self.fallback_zoom) if shrunk and self.fallback_zoom > 1.0 else (1.0,):
            for f in self._read(stage, zoom, 0, 0):
                if rows == 2 and f.rows != 2:
                    continue  # one row of a two-row plate whose other row the detector missed
                if not _of_kind(kind, f.text):
                    continue  # a VN/CN plate with a character lost, or text beside it
                return f if f.confidence > confidence else None
        return None

    def read_frame(self, image: np.ndarray, roi: tuple[int, int, int, int] | None = None,
                   thorough: bool = False, still: bool = False) -> list[FrameRead]:
        """Plate reads of a frame, best first.

        ``thorough``: a vehicle is known to be there (a still image, or the loop detector is on), so when
        the usual pass reads no VN or CN plate at ``SURE_HOME`` or better, look again closer
        (``fallback_zoom``, in tiles; see :meth:`TextDetector.text_boxes`); the closer reads replace
        the usual ones when their surest VN/CN read is surer. Small plates (a two-row plate ~100 px wide
        in a 1280 px frame) are lost at the usual 640 px and found at 1.5 times that, for about four
        times the cost, which a live stream of mostly empty frames cannot pay on every frame. Then,
        when the best read is still below ``RESCUE_BELOW``, its plate is looked at closely
        (:meth:`_look_at`).

        ``still``: a still image (``gatectl plate read`` and ``eval``), thorough and more: when the
        closer look reads no sure VN/CN plate either, the detector looks once more at the image's own
        resolution (up to ``DEEP_ZOOM_MAX``), in tiles: a plate ~150 px wide in a 1920 px photo is
        ~50 px to the usual pass. Measured on real held-out crops hung ~8 % of the width wide in
        1920×1080 scenes: 171 → 183 of 200 read, p95 0.5 → 1.7 s. Not on a live stream, where the
        frame after this one is the next look. A still image still read below ``RESCUE_BELOW`` (or
        not at all) that shows a motion blur along its rows or columns, or any still image out of
        focus, is read again with the blur undone (:meth:`_unblurred`).
        """
        thorough = thorough or still
        ox = oy = 0
        if roi is not None:  # clipped to the frame: a negative origin would slice from the far edge
            x, y, rw, rh = roi
            ox, oy = max(0, x), max(0, y)
            image = image[oy:max(oy, y + rh), ox:max(ox, x + rw)]
        if image.size == 0:
            return []
        image = _bgr(image)
        out = self._read_frame(image, ox, oy, thorough, still)
        if still:
            out = self._unblurred(image, out, ox, oy)
        return out

    def _unblurred(self, image: np.ndarray, reads: list[FrameRead], ox: int, oy: int) -> list[FrameRead]:
        """A still image read again with its blur undone (:mod:`edge.plate.deblur`), where it shows one:
        a motion blur along the rows or down the columns, looked for when the image read weakly
        (below ``RESCUE_BELOW``) or not at all; else an out-of-focus blur, whatever the first read,
        as a blurred plate's province character is often read wrong and surely (皖 as 藏 at 0.91).
        The sharper image's reads replace the first ones when its best is surer and fairly sure: a
        VN/CN read at ``SURE_HOME``, a foreign one at ``RESCUE_BELOW``, and never in place of a VN/CN
        read. With the blur undone, a truck's lettering reads too: 60 plate-less truck fronts smeared
        along the rows gave 9 more plate reads without those bars ("HPH0NG00" at 0.85), none more
        with them; smeared down the columns, one more with them ("TRANSA54A" of "TRANS ASIA" at
        0.92). Synthetic stills smeared 7-21 px along the rows (JPEG 75-90): 50 → 57 of 60 CN
        portrait stills read, 56 → 59 of 60 VN and foreign 1280×720 frames; 7-17 px down the
        columns: 28 → 39 of 40 of every layout. Small CN plates in portrait stills out of focus
        (Gaussian, 9 or 11 px): 70 → 79 of 80 (76 if only weak reads were looked at again). Where the
        Gaussian undone reads weakly (below ``RESCUE_BELOW``) or not at all, a disc-shaped blur as
        wide is undone too and the surer of the two reads goes on: 60 of those small plates in
        stills blurred by a disc of radius 3-4 px (JPEG 80) read 27 as they were, 27 with the
        Gaussian undone, 47 with this; blurred by a Gaussian, 59 of 60 either way. From
        720×1280 to 1080×1920, the checks cost 5-20 ms on a sharp image and 20-100 ms to find a
        smear's length; undoing a smear 28-92 ms, an out-of-focus blur 73-240 ms, before the second
        read. An image larger than ``deblur.MAX_PIXELS`` (a 1920×1080 camera's) is not checked."""
        if image.shape[0] * image.shape[1] > deblur.MAX_PIXELS:
            return reads
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)  # both checks look at grey levels
        length, vertical = (0, False)
        if not reads or reads[0].confidence < RESCUE_BELOW:
            length, vertical = deblur.motion_blur(grey)
        if length:
            again = self._read_frame(deblur.unblurred(image, length, vertical), ox, oy, True, True)
        else:
            sigma = deblur.defocus(grey)
            if not sigma:
                return reads
            again = self._read_frame(deblur.unfocused(image, sigma), ox, oy, True, True)
            if not again or again[0].confidence < RESCUE_BELOW:
                # a lens far out of focus blurs by a disc, which a Gaussian does not undo
                disc = self._read_frame(deblur.unfocused_disc(image, sigma), ox, oy, True, True)
                if disc and (not again or disc[0].confidence > again[0].confidence):
                    again = disc
        if not again or (reads and again[0].confidence <= reads[0].confidence):
            return reads
        foreign = country_of(again[0].text) == "XX"
        if again[0].confidence < (RESCUE_BELOW if foreign else SURE_HOME) or (
                foreign and reads and country_of(reads[0].text) != "XX"):
            return reads  # undone, a truck's lettering reads as a fair plate too ("HPH0NG00" at 0.85)
        return again

    def _read_frame(self, image: np.ndarray, ox: int, oy: int, thorough: bool, still: bool) -> list[FrameRead]:
        """:meth:`read_frame` on a BGR image already cut to its region of interest (at ox, oy)."""
        look = self._read_upright(image, 1.0, ox, oy)
        faint = list(look.faint)
        looks = [self.fallback_zoom] if thorough and self.fallback_zoom > 1.0 else []
        deep = self._deep_zoom(image) if looks and still else 0.0
        looks += [deep] if deep else []  # a still image: nothing comes after it to look again
        for zoom in looks:
            home = _best_home(look.reads)
            if home >= SURE_HOME:
                break
            # nothing read; only text that fits no more than the loose foreign-plate grammar (often
            # one row of a two-row plate whose other row the coarse pass missed); or a weak VN/CN read
            # (often one row of a small two-row plate, read as two rows into a plausible plate)
            closer = self._read_upright(image, zoom, ox, oy)
            faint += closer.faint
            if not look.reads or _best_home(closer.reads) > home:
                look = closer
        out = look.reads
        if thorough and not out and faint:
            out = self._faint_look(image, faint, ox, oy)
        if thorough and out and out[0].confidence < RESCUE_BELOW:
            out = self._look_at(image, out, look.upright.get(out[0].text), ox, oy)
        return out

    def _faint_look(self, image: np.ndarray, faint: list[tuple[FrameRead, np.ndarray]], ox: int, oy: int,
                    ) -> list[FrameRead]:
        """A thorough frame where every pass read nothing but faint plates: the two surest looked at
        closely (:meth:`_look_at`), and the first read surely there (``RESCUE_BELOW``) is the frame's
        plate. A loose crop hung on a truck (a plate with a dark frame around it) or a two-row plate
        tilted 15° is often found as one block that reads below ``min_confidence``, so nothing at all
        was read of a plate in plain sight; found again within its crop, its lines read surely (2 of
        600 real crops hung on truck fronts, plain and tilted). Only a sure read counts: looked at
        closely, cab lettering and stickers read weak plates too (without that rule, 1 of 90
        plate-less truck fronts that read nothing read "1P114" at 0.44; with it, none)."""
        for weak, crop in sorted(faint, key=lambda fc: -fc[0].confidence)[:2]:
            found = self._look_at(image, [weak], crop, ox, oy)[0]
            if found is not weak and found.confidence >= RESCUE_BELOW:
                return [found]
        return []

    def _deep_zoom(self, image: np.ndarray) -> float:
        """The zoom at which the detector sees ``image`` at its own resolution, at most ``DEEP_ZOOM_MAX``;
        0 when that is no deeper than the closer look (a frame of up to ~1100 px)."""
        deep = min(max(image.shape[:2]) / self.detector.max_side, DEEP_ZOOM_MAX)
        return deep if deep >= self.fallback_zoom + 0.25 else 0.0

    def _look_at(self, image: np.ndarray, reads: list[FrameRead], upright: np.ndarray | None,
                 ox: int, oy: int) -> list[FrameRead]:
        """A weak best read's plate looked at again, two ways; the surest valid read replaces the weak
        one, at the weak one's box.

        First its own crop, cut upright along the detector's lines, read as a plate crop is
        (:meth:`read_crop`: the other row count, then the lines found within it). A tilted two-row
        plate often comes from the detector as one block whose straight split between the rows cuts
        characters; found again within the upright crop, its rows come apart (the 447 held-out real
        crops hung tilted on truck fronts: 391 → 399 read; flat 406 → 406). Then, unless that read is
        sure, the region around the weak read in the frame (``LOOK_MARGIN`` of its size on every side)
        scaled up to the detector's full input, its lines found again and read (:meth:`_staged`): a
        small plate's lines, found at a few pixels' height, often cut a character or split a row;
        found again at several times the size they do not. Thorough frames only; one or two detector
        passes."""
        best = reads[0]
        home = country_of(best.text) != "XX"

        def better(f: FrameRead | None) -> bool:
            # surer, and no VN or CN read replaced by one that only the loose foreign grammar takes: that
            # is the same plate with its province digit lost ("55P87062" read again as "5P87062")
            return f is not None and f.confidence > best.confidence and not (home and country_of(f.text) == "XX")

        found: list[FrameRead] = []
        if upright is not None and upright.size:
            r = self.read_crop(upright, best.rows, straighten=False)  # cut level already
            f = FrameRead(r.text, r.confidence, r.char_confidence, best.box, r.rows) if r.valid else None
            found += [f] if better(f) else []
        if not found or found[0].confidence < RESCUE_BELOW:
            x, y, w, h = best.box
            x, y, m = x - ox, y - oy, int(LOOK_MARGIN * max(w, h))
            region = image[max(0, y - m):y + h + m, max(0, x - m):x + w + m]
            f = self._staged(region, best.rows, best.confidence) if region.size else None
            found += [replace(f, box=best.box)] if f is not None and better(f) else []
        if not found:
            return reads
        surest = max(found, key=lambda f: f.confidence)
        return [surest] + [r for r in reads[1:] if r.text != surest.text]

    def _read(self, image: np.ndarray, zoom: float, ox: int, oy: int) -> list[FrameRead]:
        return self._read_upright(image, zoom, ox, oy).reads

    def _read_upright(self, image: np.ndarray, zoom: float, ox: int, oy: int) -> Look:
        """The plates read in ``image`` at ``zoom`` (best first), each text's upright crop, and the
        faint plates (see :class:`Look`)."""
        cands = candidates(image, self.detector.text_boxes(image, zoom))
        if not cands:
            return Look([])
        reads = self.recognizer.read_many([c.crop for c in cands], [c.rows for c in cands])
        cands, reads = self._tightened(cands, reads)
        kept = [(c, r) for c, r in zip(cands, reads) if r.valid and r.confidence >= self.min_confidence]
        upright: dict[str, tuple[float, np.ndarray]] = {}
        for c, r in kept:
            if r.text not in upright or r.confidence > upright[r.text][0]:
                upright[r.text] = (r.confidence, c.crop)
        faint = [(_moved(c, r, ox, oy), c.crop) for c, r in zip(cands, reads)
                 if r.valid and r.confidence < self.min_confidence]
        return Look(plates(kept, ox, oy), {text: crop for text, (_, crop) in upright.items()}, faint)

    def _tightened(self, cands: list[Candidate], reads: list[CropRead]
                   ) -> tuple[list[Candidate], list[CropRead]]:
        """The candidates read weakly (below ``RESCUE_BELOW``, or outside every grammar) read again cut
        down to the plate's own rectangle (:mod:`edge.plate.tighten`), in one batch; where the cut's
        read wins (:func:`_cut_wins`) it replaces the first, with its crop."""
        weak = [(i, cut) for i, r in enumerate(reads) if not (r.valid and r.confidence >= RESCUE_BELOW)
                and (cut := tighten.tightened(cands[i].crop)) is not None]
        if not weak:
            return cands, reads
        again = self.recognizer.read_many([cut for _, cut in weak], [cands[i].rows for i, _ in weak])
        cands, reads = list(cands), list(reads)
        for (i, cut), r in zip(weak, again):
            if _cut_wins(reads[i], r):
                cands[i], reads[i] = replace(cands[i], crop=cut), r
        return cands, reads


def plates(kept: list[tuple[Candidate, CropRead]], ox: int = 0, oy: int = 0) -> list[FrameRead]:
    """The plates among a frame's valid candidate reads, best first, one per text, boxes moved by the
    ROI's origin (``ox``, ``oy``).

    A two-row plate's top row alone ("59L2") often passes the foreign-plate grammar as well, and so does
    one group of a plate split at an emblem ("969LN" of ZG 969-LN): once the merged lines read as a
    plate, the lines are parts of it, not plates of their own. Unless a line reads as a VN or CN plate
    and the merge only as a foreign one: the plate and a sticker beside it, merged.

    "Best" puts a VN or CN read at ``SURE_HOME`` or surer before every read that only the loose
    foreign grammar takes, however sure: a truck's cab carries other text that this grammar takes (a
    phone number read "O912345678", a fleet number), and the voter follows only a frame's first read.
    The VN and CN grammars are strict enough that cab lettering seldom fits them.
    """
    merged = [(c.box, country_of(r.text) != "XX") for c, r in kept if c.lines > 1]
    out: dict[str, FrameRead] = {}
    for c, r in kept:
        if c.lines == 1 and any(inside(c.box, box) and (home or country_of(r.text) == "XX")
                                for box, home in merged):
            continue
        fr = _moved(c, r, ox, oy)
        if r.text not in out or fr.confidence > out[r.text].confidence:
            out[r.text] = fr
    return sorted(out.values(), key=lambda f: (not _sure_home(f), -f.confidence))


def _cut_wins(first: CropRead, cut: CropRead) -> bool:
    """Whether the read of a crop cut down to the plate replaces the crop's first read: valid and surer,
    and a read that only the loose foreign grammar takes only when sure (``RESCUE_BELOW``) and in place
    of another foreign read. Cut down, cab lettering and stickers read as weak foreign plates ("IA10NC"
    of "HAIPHONG CO"): with the cut and without this rule, 6 of 150 plate-less truck fronts read a weak
    foreign plate; with the rule 4, as without the cut."""
    if not cut.valid or (first.valid and cut.confidence <= first.confidence):
        return False
    if country_of(cut.text) != "XX":
        return True
    return first.valid and country_of(first.text) == "XX" and cut.confidence >= RESCUE_BELOW


def _moved(c: Candidate, r: CropRead, ox: int, oy: int) -> FrameRead:
    """A candidate's read as a frame read, its box moved by the ROI's origin."""
    x, y, w, h = c.box
    return FrameRead(r.text, r.confidence, r.char_confidence, (x + ox, y + oy, w, h), r.rows)


def _bgr(image: np.ndarray) -> np.ndarray:
    """A grey or BGRA image as BGR (what the detector and its staging take)."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return image[:, :, :3] if image.shape[2] > 3 else image


def _kind(read: CropRead) -> str:
    """What a valid read is, for the reads that may replace it (:func:`_of_kind`): ``HOME`` in the VN or
    CN grammar, ``KNOWN`` a foreign plate in a format the recogniser knows (Croatian), else ""."""
    if not read.valid:
        return ""
    if country_of(read.text) != "XX":
        return HOME
    return KNOWN if known_format(read.text) else ""


def _of_kind(kind: str, text: str) -> bool:
    """Whether a read of ``text`` may replace a weak first read of ``kind`` (:func:`_kind`): a VN/CN read
    only by one in the VN or CN grammar, a Croatian one only by one in a known format. A look that
    loses a character, or takes in text beside the plate, reads a looser plate surely ("S569AD" at
    1.00 of the Croatian ŠI 569-AD, its I lost at the emblem, where the first read was right at 0.58)."""
    if kind == HOME:
        return country_of(text) != "XX"
    return known_format(text) if kind == KNOWN else True


def _sure_home(read: FrameRead) -> bool:
    return read.confidence >= SURE_HOME and country_of(read.text) != "XX"


def _best_home(reads: list[FrameRead]) -> float:
    """The confidence of the surest read that fits the VN or CN grammar (not only the loose
    foreign-plate one); -1 when there is none."""
    return max((r.confidence for r in reads if country_of(r.text) != "XX"), default=-1.0)
