"""Plate text: normalisation, country grammars, junk refusal and the OCR-confusion skeleton."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from edge.plate.text import (
    CJK_ALLOWED,
    CN_PROVINCES,
    CN_SPECIAL,
    CONFUSABLE_GROUPS,
    SEPARATORS,
    InvalidPlate,
    Plate,
    clean,
    country_of,
    display_vn,
    normalize,
    skeleton,
    substitutions,
)

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------------------------ examples


@pytest.mark.parametrize(
    ("raw", "text", "country"),
    [
        ("29C-123.45", "29C12345", "VN"),  # one-row VN plate, conventional display
        ("29C12345", "29C12345", "VN"),
        ("59-L2 149.99", "59L214999", "VN"),  # two-row VN plate (motorbike-style series)
        ("51F-065.32", "51F06532", "VN"),
        ("14C-4567", "14C4567", "VN"),  # older 4-digit series
        ("29LD-123.45", "29LD12345", "VN"),  # two-letter series
        ("桂A12345", "桂A12345", "CN"),
        ("桂A·12345", "桂A12345", "CN"),
        ("粤B1234港", "粤B1234港", "CN"),  # special-use suffix
        ("京A 8888学", "京A8888学", "CN"),
        ("２９Ｃ－１２３．４５", "29C12345", "VN"),  # full-width digits, letters and separators
        ("桂Ａ１２３４５", "桂A12345", "CN"),
        ("29c-123.45", "29C12345", "VN"),  # lower case
        ("59-l2 149.99", "59L214999", "VN"),
        ("ｂｃ１２３４", "BC1234", "XX"),  # full-width lower case
        (" 29C 123 45 ", "29C12345", "VN"),
        ("29C_123/45", "29C12345", "VN"),
        ("29C\t123•45", "29C12345", "VN"),
        ("29C·123·45", "29C12345", "VN"),
        ("ABC1234", "ABC1234", "XX"),  # foreign (e.g. ASEAN transit) plate
        ("LAO 1234", "LAO1234", "XX"),
        ("1234", "1234", "XX"),  # shortest accepted
        ("AB12345678", "AB12345678", "XX"),  # longest XX (10)
        ("29C-123.456.7", "29C1234567", "XX"),  # no VN grammar fits, but a valid foreign plate
    ],
)
def test_normalize_examples(raw, text, country):
    plate = normalize(raw)
    assert plate == Plate(text, country)
    assert country_of(plate.text) == country


@pytest.mark.parametrize(
    "raw",
    [
        "29C12345🚚",  # emoji
        "🚚",
        "29C';DROP",  # SQL-ish
        "29C12345' OR '1'='1",
        "29C;DROP TABLE permits",
        "29C\x0012345",  # control characters
        "29C\n12345",
        "29C\r12345",
        "29C\x1b[2J12345",
        "\x7f29C12345",
        "29C\u200b12345",  # zero-width space
        "29C+12345",
        "29C#12345",
        "29C,12345",
        "29Ç12345",  # accented Latin letter
        "29Ć12345",
        "ABC",  # too short
        "",
        " - . ",
        "29C-123.45-678.90",  # 13 plate characters: too long
        "A" * 11,  # Latin text longer than the XX grammar allows
        "日A12345",  # CJK that is not a province character
        "桂A12345日",
        "警A12345",  # special-use character where the province belongs
        "A桂12345",  # province character in the wrong place
        "桂12345",  # province without the letter
        "桂A123",  # too few characters after the province
        "桂A1234567",  # too many
        "桂A1234",  # four after the office's letter with no special-use character: the last one lost
        "桂A12345警",  # a special-use character after five
        "北A12345",
        "29C" + "-" * 70 + "12345",  # raw text longer than 64 characters
    ],
)
def test_junk_is_refused(raw):
    with pytest.raises(InvalidPlate):
        normalize(raw)


@pytest.mark.parametrize(
    "raw",
    [
        # Compatibility characters that NFKC + str.upper() would turn into plate characters: junk here.
        "29C12345™",  # would become the foreign plate 29C12345TM
        "29C1234ß",  # sharp s would become SS
        "29C1234²",  # superscript two
        "29C1234①",  # circled one
        "29CI2345ı",  # dotless i
        "29C12345…",  # ellipsis would become three separators
        "29Ⅽ12345",  # Roman numeral one hundred looks like C
        "⽢A12345",  # Kangxi radical, not the province character 甘
    ],
)
def test_compatibility_lookalikes_are_refused(raw):
    with pytest.raises(InvalidPlate, match="not allowed"):
        normalize(raw)


@pytest.mark.parametrize("space", ["\u00a0", "\u2009", "\u3000", "\u202f"])
def test_unicode_spaces_are_separators(space):
    assert normalize(f"29C{space}123{space}45").text == "29C12345"


def test_only_plate_characters_and_their_full_width_forms_are_accepted():
    """Over the whole Basic Multilingual Plane: a character is accepted only if it is a plate
    character, a separator, a lower-case or full-width form of one, or a Unicode space."""
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789Đđ") | CJK_ALLOWED | SEPARATORS
    allowed |= {chr(ord(c) + 0xFEE0) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-./_"}
    accepted = set()
    for cp in range(0x10000):
        ch = chr(cp)
        try:
            clean("29C1234" + ch)
        except InvalidPlate:
            continue
        accepted.add(ch)
    spaces = {c for c in accepted if unicodedata.category(c) == "Zs"}
    assert accepted - spaces <= allowed
    assert set("Aa0桂港\uff21\uff41\uff10") <= accepted


def test_vietnamese_d_with_stroke_is_d():
    """The MĐ series prints Đ; it is stored, compared and voted on as D."""
    assert normalize("29-MĐ1 123.45") == normalize("29md112345")
    assert normalize("29-MĐ1 123.45").text == "29MD112345" and normalize("29-mđ1").text == "29MD1"


@pytest.mark.parametrize("raw", [None, 29_12345, 29.5, b"29C12345", ["29C12345"], {"plate": "29C12345"}])
def test_non_text_is_refused(raw):
    with pytest.raises(InvalidPlate, match="must be text"):
        normalize(raw)


def test_invalid_plate_is_a_value_error_with_a_useful_message():
    with pytest.raises(ValueError) as err:
        normalize("29C';DROP")
    assert "'" in str(err.value) and "not allowed" in str(err.value)
    with pytest.raises(InvalidPlate, match="characters, expected 4-12"):
        normalize("AB1")


@pytest.mark.parametrize(
    ("text", "country"),
    [("29C12345", "VN"), ("59L214999", "VN"), ("29LD12345", "VN"), ("14C4567", "VN"), ("桂A12345", "CN"),
     ("粤B1234港", "CN"), ("ABC1234", "XX"), ("C2912345", "XX"), ("29C123", "XX"), ("桂12345", "XX")],
)
def test_country_of(text, country):
    assert country_of(text) == country


@pytest.mark.parametrize(
    ("text", "shown"),
    [("29C12345", "29C-123.45"),  # the example of display_vn's docstring: a 5-digit number, no series digit
     ("51F06532", "51F-065.32"), ("29LD12345", "29LD-123.45"), ("14C4567", "14C-4567"),
     ("59L214999", "59L2-149.99"), ("桂A12345", "桂A12345"), ("ABC1234", "ABC1234")],
)
def test_display_vn(text, shown):
    assert display_vn(text) == shown
    if country_of(text) == "VN":
        assert normalize(shown).text == text  # the display form reads back to the same plate


def test_skeleton_and_substitutions_examples():
    assert skeleton("51FO6532") == skeleton("51F06532") == "51F06532"
    assert skeleton("29C-8O5") == "29C-805"
    assert skeleton("8B") == "88" and skeleton("QDO0") == "0000" and skeleton("ILl") == "11l"
    assert substitutions("51FO6532", "51F06532") == 1
    assert substitutions("SIFO6S32", "51F06532") == 4
    assert substitutions("29C12345", "29C12345") == 0
    assert substitutions("29C12345", "29C12346") is None  # 5 and 6 are not confusable
    assert substitutions("29C12345", "29C1234") is None
    assert substitutions("桂A12345", "桂412345") == 1
    assert substitutions("桂A12345", "粤A12345") is None


# ------------------------------------------------------------------------------------ properties

DIGITS = "0123456789"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _chars(alphabet: str, n: int, m: int | None = None) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=n, max_size=n if m is None else m)


vn_plates = st.builds(lambda a, b, c, d: a + b + c + d, _chars(DIGITS, 2), _chars(LETTERS, 1, 2),
                      _chars(DIGITS, 0, 1), _chars(DIGITS, 4, 5))
cn_plates = st.builds(lambda a, b, c: a + b + c, st.sampled_from(CN_PROVINCES), _chars(LETTERS, 1),
                      st.one_of(_chars(LETTERS + DIGITS, 5, 6),
                                st.builds(str.__add__, _chars(LETTERS + DIGITS, 4), _chars(CN_SPECIAL, 1))))
xx_plates = _chars(LETTERS + DIGITS, 4, 10)
plates = st.one_of(vn_plates, cn_plates, xx_plates)

#: Mostly plate-ish characters, plus junk, separators, lower case and full-width forms.
noisy_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(LETTERS + DIGITS + LETTERS.lower() + "".join(SEPARATORS) + CN_PROVINCES + CN_SPECIAL),
        st.sampled_from("".join(chr(ord(c) + 0xFEE0) for c in "0123456789ABCZabcz-.")),
        st.characters(),
    ),
    max_size=20,
)


@PROPS
@given(plates)
def test_grammar_strategies_produce_accepted_plates(text):
    p = normalize(text)
    assert p.text == text
    assert p.country == country_of(text)


@PROPS
@given(st.one_of(plates, noisy_text))
@example("２９ｃ－１２３．４５")
@example("59-l2 149.99")
def test_normalize_is_idempotent(raw):
    try:
        p = normalize(raw)
    except InvalidPlate:
        return
    assert normalize(p.text) == p
    assert clean(p.text) == p.text
    assert all(("A" <= c <= "Z") or ("0" <= c <= "9") or c in CJK_ALLOWED for c in p.text)


@st.composite
def disguised(draw):
    """A valid plate and the same plate with separators added, case changed and characters widened."""
    text = draw(plates)
    out = []
    for ch in text:
        if draw(st.booleans()):
            out.append(draw(st.sampled_from(sorted(SEPARATORS))) * draw(st.integers(1, 2)))
        if "A" <= ch <= "Z" and draw(st.booleans()):
            ch = ch.lower()
        if ch.isascii() and draw(st.booleans()):
            ch = chr(ord(ch) + 0xFEE0)  # full-width form
        out.append(ch)
    if draw(st.booleans()):
        out.append(draw(st.sampled_from(sorted(SEPARATORS))))
    raw = "".join(out)
    assume(len(raw) <= 64)  # longer raw text is refused outright, separators or not
    return text, raw


@PROPS
@given(disguised())
def test_separators_case_and_width_never_change_the_result(pair):
    text, raw = pair
    assert normalize(raw) == normalize(text)


@PROPS
@given(st.one_of(plates, noisy_text, st.text(alphabet="".join(g for g in CONFUSABLE_GROUPS) + "CEFX9", max_size=12)))
def test_skeleton_is_idempotent_and_length_preserving(text):
    s = skeleton(text)
    assert skeleton(s) == s
    assert len(s) == len(text)
    # Every character of a confusable group maps to the same representative.
    assert not any(c in g[1:] for g in CONFUSABLE_GROUPS for c in s)


CONFUSABLE_ALPHABET = "".join(CONFUSABLE_GROUPS) + "CEFHX39桂"


@st.composite
def plate_pairs(draw):
    """Two strings, often confusable with each other (same length, swaps within confusion groups)."""
    a = draw(st.text(alphabet=CONFUSABLE_ALPHABET, min_size=0, max_size=10))
    how = draw(st.sampled_from(["same", "confusable", "any", "longer"]))
    if how == "same":
        return a, a
    if how == "confusable":
        b = []
        for ch in a:
            group = next((g for g in CONFUSABLE_GROUPS if ch in g), ch)
            b.append(draw(st.sampled_from(group)))
        return a, "".join(b)
    if how == "longer":
        return a, a + draw(st.text(alphabet=CONFUSABLE_ALPHABET, min_size=1, max_size=3))
    return a, draw(st.text(alphabet=CONFUSABLE_ALPHABET, min_size=len(a), max_size=len(a)))


@PROPS
@given(plate_pairs())
def test_substitutions_properties(pair):
    a, b = pair
    n = substitutions(a, b)
    assert n == substitutions(b, a)  # symmetric
    assert (n == 0) == (a == b)  # zero iff equal
    if len(a) != len(b):
        assert n is None
    if n is not None:
        assert skeleton(a) == skeleton(b)
        assert n == sum(x != y for x, y in zip(a, b))
    else:
        assert len(a) != len(b) or skeleton(a) != skeleton(b)


@PROPS
@given(plates, plates)
def test_substitutions_on_plates_agree_with_skeletons(a, b):
    n = substitutions(a, b)
    assert n == substitutions(b, a)
    assert (n is not None) == (len(a) == len(b) and skeleton(a) == skeleton(b))
    assert (n == 0) == (a == b)
