"""The sample app's input checks (app/peakready_app/validation.py, standard library only), where the
fuzzing of the live app (tests/infra/test_fuzz.py) found a 500: text that is a valid Python string
but not UTF-8 (a lone surrogate, which JSON's "\\ud800" escape carries) reached the database driver,
which failed to encode it. Now every text field is checked, and nothing but InvalidInput comes out."""

import sys
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peakready import ROOT

sys.path.insert(0, str(ROOT / "app"))
from peakready_app.validation import BookingInput, InvalidInput, MenuItemInput

WHEN = (datetime.now(UTC) + timedelta(days=3)).isoformat()
ITEM = {"outlet_id": 1, "category": "rice", "name": "Nasi goreng", "price_idr": 25000}
BOOKING = {"outlet_id": 1, "name": "Siti", "phone": "+62 812 5550 1234", "party_size": 4, "time": WHEN}


@pytest.mark.parametrize("make,base,field", [
    (MenuItemInput, ITEM, "name"),
    (MenuItemInput, ITEM, "description"),
    (BookingInput, BOOKING, "name"),
    (BookingInput, BOOKING, "phone"),
])
@pytest.mark.parametrize("value,message", [
    ("Es teh \ud83d", "no lone surrogates"),  # half of an emoji's surrogate pair: the 500
    ("\udfff" * 8, "no lone surrogates"),
    ("Es\x00teh", "without control characters"),
    ("Es teh\x1b[31m", "without control characters"),
    ("Es teh\x85", "without control characters"),  # C1 (NEL)
])
def test_text_a_database_cannot_store_is_a_400(make, base, field, value, message):
    if field == "phone":
        value = "+62 812 " + value
    with pytest.raises(InvalidInput, match=message):
        make.from_json({**base, field: value})


def test_unicode_text_and_line_breaks_in_a_description_are_fine():
    item = MenuItemInput.from_json({**ITEM, "name": "Es\xa0teh manis \U0001f964",
                                    "description": "Teh melati,\n\tgula aren"})
    assert item.name == "Es\xa0teh manis \U0001f964" and item.description == "Teh melati,\n\tgula aren"
    with pytest.raises(InvalidInput, match="name must be text without control characters"):
        MenuItemInput.from_json({**ITEM, "name": "Es teh\nmanis"})


def test_the_length_limit_counts_what_was_sent_as_the_schema_does():
    """maxLength applies to the raw string (openapi.py): padding cannot smuggle in a longer value."""
    with pytest.raises(InvalidInput, match="1 to 120"):
        MenuItemInput.from_json({**ITEM, "name": " " * 10 + "x" * 115})
    assert MenuItemInput.from_json({**ITEM, "name": "  Soto  "}).name == "Soto"


# Every kind of character, surrogates and controls included (st.text leaves surrogates out).
ANY_CHAR = st.characters(categories=["Cs", "Cc", "Cf", "Co", "Lu", "Ll", "Lo", "Mn", "Nd", "Zs", "Zl", "Po", "So"])
JSON_VALUE = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(ANY_CHAR, max_size=140))


@settings(max_examples=300, deadline=None)
@given(data=st.fixed_dictionaries({}, optional={k: JSON_VALUE for k in
                                                ("outlet_id", "category", "name", "description", "price_idr",
                                                 "is_featured", "is_available", "phone", "party_size", "time",
                                                 "extra")}),
       base=st.sampled_from([ITEM, BOOKING]), overlay=st.booleans())
def test_any_json_object_gives_valid_input_or_invalid_input_never_another_error(data, base, overlay):
    make = MenuItemInput if base is ITEM else BookingInput
    try:
        parsed = make.from_json({**base, **data} if overlay else data)
    except InvalidInput:
        return
    for value in vars(parsed).values():
        if isinstance(value, str):
            value.encode("utf-8")  # what the database driver does with it
            assert not any(ord(c) < 0x20 and c not in "\t\n\r" for c in value)
