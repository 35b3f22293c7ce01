"""Machine-readable reasons of a decision (stable strings: they travel in events and metrics)."""

from enum import StrEnum


class Reason(StrEnum):
    PERMIT_OK = "permit_ok"
    OPERATOR_OVERRIDE = "operator_override"
    INVALID_PLATE = "invalid_plate"
    LOW_CONFIDENCE = "low_confidence"
    NO_PERMIT = "no_permit"
    FUZZY_AMBIGUOUS = "fuzzy_ambiguous"
    FUZZY_LOW_CONFIDENCE = "fuzzy_low_confidence"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    WRONG_DIRECTION = "wrong_direction"
    WRONG_FLOW = "wrong_flow"
    ANTI_PASSBACK = "anti_passback"
    PASSES_USED = "passes_used"
    WATCHLIST = "watchlist"
    YARD_FULL = "yard_full"
    STORE_UNAVAILABLE = "store_unavailable"


ALLOWING = frozenset({Reason.PERMIT_OK, Reason.OPERATOR_OVERRIDE})

#: When several permits of one plate all fail, the reason reported is the one latest in this order,
#: i.e. the permit that came closest to passing.
PERMIT_FAILURE_ORDER = (Reason.WRONG_FLOW, Reason.WRONG_DIRECTION, Reason.EXPIRED, Reason.NOT_YET_VALID,
                        Reason.PASSES_USED, Reason.ANTI_PASSBACK)
