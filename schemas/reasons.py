"""Why a record was quarantined: the closed list of reason codes.

Every quarantine row carries one or more (field, reason, message). The list is closed:
a check that needs a new reason adds it here, with its description, and the data
dictionary and README pick it up.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    UNPARSEABLE = "unparseable"
    MISSING_REQUIRED = "missing_required"
    BAD_CHECK_DIGIT = "bad_check_digit"
    BAD_IDENTIFIER = "bad_identifier"
    IMPOSSIBLE_DATE = "impossible_date"
    DATE_ORDER = "date_order"
    UNKNOWN_CODE = "unknown_code"
    BAD_DIVISION = "bad_division"
    OUT_OF_RANGE = "out_of_range"
    TOO_LONG = "too_long"
    MOJIBAKE = "mojibake"
    BAD_VALUE = "bad_value"


DESCRIPTIONS: dict[Reason, str] = {
    Reason.UNPARSEABLE: "the record could not be read at all (broken JSON line, wrong number "
                        "of CSV fields, undecodable file)",
    Reason.MISSING_REQUIRED: "a field the contract requires is empty or absent (also when a "
                             "drifted column left it unmapped)",
    Reason.BAD_CHECK_DIGIT: "a resident ID (GB 11643) or credit code (GB 32100 / GB 11714) "
                            "whose check character is wrong",
    Reason.BAD_IDENTIFIER: "an ID, credit code or phone number of the wrong shape (length, "
                           "characters, birth date)",
    Reason.IMPOSSIBLE_DATE: "a date or time that cannot exist or be read (30 February, month "
                            "13, seconds sent as milliseconds, before 2000)",
    Reason.DATE_ORDER: "times out of their life-cycle order (occurred ≤ reported ≤ accepted ≤ "
                       "resolved ≤ closed)",
    Reason.UNKNOWN_CODE: "a code or name not in its code list or registry (category, status, "
                         "gender, township, village, grid)",
    Reason.BAD_DIVISION: "division codes that do not nest (village within town within county, "
                         "grid within village)",
    Reason.OUT_OF_RANGE: "a number outside its range (people involved < 1, negative amount, "
                         "coordinates outside China)",
    Reason.TOO_LONG: "text longer than the contract allows",
    Reason.MOJIBAKE: "text garbled by a wrong character decoding upstream (e.g. 寮犱笁 for "
                     "张三, ÕÅÈý for 张三)",
    Reason.BAD_VALUE: "a value of the wrong type (letters in a number, an unknown boolean)",
}
