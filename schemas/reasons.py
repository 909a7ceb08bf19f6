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
    # what a reader finds before a record has fields (the connector writes these into
    # `_parse_error` as "<reason>: <message>", see connectors.rejects)
    BAD_ENCODING = "bad_encoding"
    BAD_ROW_SHAPE = "bad_row_shape"
    NOT_A_RECORD = "not_a_record"
    DUPLICATE_KEY = "duplicate_key"
    OVER_LIMIT = "over_limit"
    MISSING_KEY = "missing_key"
    # scope: what a record says may be well formed and still not be ours or not be yet
    OUT_OF_SCOPE = "out_of_scope"
    IN_FUTURE = "in_future"


DESCRIPTIONS: dict[Reason, str] = {
    Reason.UNPARSEABLE: "the record could not be read at all (broken JSON, a value a "
                        "reader cannot take apart) and no more specific reason applies",
    Reason.MISSING_REQUIRED: "a field the contract requires is empty or absent (also when a "
                             "drifted column left it unmapped)",
    Reason.BAD_CHECK_DIGIT: "a resident ID (GB 11643) or credit code (GB 32100 / GB 11714) "
                            "whose check character is wrong",
    Reason.BAD_IDENTIFIER: "an ID, credit code or phone number of the wrong shape (length, "
                           "characters, birth date)",
    Reason.IMPOSSIBLE_DATE: "a date or time that cannot exist or be read (30 February, month "
                            "13, seconds sent as milliseconds, before 2000)",
    Reason.DATE_ORDER: "times out of the order their contract declares (a later step dated "
                       "before an earlier one)",
    Reason.UNKNOWN_CODE: "a code or name not in its code list or reference registry",
    Reason.BAD_DIVISION: "division codes that do not nest (a code that does not start with "
                         "the code of the division it lies in)",
    Reason.OUT_OF_RANGE: "a number outside its range (people involved < 1, negative amount, "
                         "coordinates outside China)",
    Reason.TOO_LONG: "text longer than the contract allows",
    Reason.MOJIBAKE: "text garbled by a wrong character decoding upstream (e.g. 寮犱笁 for "
                     "张三, ÕÅÈý for 张三)",
    Reason.BAD_VALUE: "a value of the wrong type (letters in a number, an unknown boolean)",
    Reason.BAD_ENCODING: "bytes that are not valid text in the file's encoding, or a NUL or "
                         "other control character inside a record (only that record is "
                         "rejected)",
    Reason.BAD_ROW_SHAPE: "a CSV row with more or fewer fields than its header, or a quote "
                          "left open (only that row is rejected)",
    Reason.NOT_A_RECORD: "something that is not a record: a JSON value other than an object, "
                         "a piece of a pretty-printed JSON document, a ledger's totals row",
    Reason.DUPLICATE_KEY: "a JSON object that names one key twice with different values (which "
                          "one the source meant cannot be known)",
    Reason.OVER_LIMIT: "a record nested deeper or larger than the readers accept (a guard "
                       "against input that would exhaust memory or recursion)",
    Reason.MISSING_KEY: "a record without the key its source identifies records by (a NULL "
                        "primary key, a case without an id)",
    Reason.OUT_OF_SCOPE: "a division code outside the deployment's divisions (one of "
                         "another region, say)",
    Reason.IN_FUTURE: "a time later than the moment the record was received, beyond the "
                      "tolerance in settings (validation.future_tolerance)",
}
