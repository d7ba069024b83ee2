import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.identifiers import mask, mask_nir, nir_is_valid, nir_key, nir_valid_expr
from tests.conftest import make_nir


def test_nir_key_known_value():
    # 1 85 05 78 006 084 → key 97 - (1850578006084 mod 97)
    assert nir_key("1850578006084") == 97 - 1850578006084 % 97
    assert nir_is_valid(make_nir("1850578006084"))


def test_corsican_departments_read_as_19_and_18():
    assert nir_key("18505" + "2A" + "006084") == 97 - int("18505" + "19" + "006084") % 97
    assert nir_key("18505" + "2B" + "006084") == 97 - int("18505" + "18" + "006084") % 97
    assert nir_is_valid(make_nir("185052A006084"))


def test_wrong_key_and_bad_shapes_are_invalid():
    good = make_nir()
    wrong = good[:13] + f"{(int(good[13:]) % 97) + 1:02d}"
    assert not nir_is_valid(wrong)
    assert not nir_is_valid(good[:-1])
    assert not nir_is_valid("5" + good[1:])       # sex digit 5 does not exist
    assert not nir_is_valid(good[:3] + "13" + good[5:])  # month 13


@settings(max_examples=300)
@given(st.one_of(st.text(alphabet="0123456789AB", min_size=13, max_size=16),
                 st.builds(lambda s: make_nir(s), st.from_regex(r"[12][0-9]{2}(0[1-9]|1[0-2])(2A|2B|[0-9]{2})[0-9]{6}", fullmatch=True))))
def test_vectorised_rule_equals_python_rule(value):
    got = pl.DataFrame({"n": [value]}).select(nir_valid_expr("n")).item()
    assert got == nir_is_valid(value)


def test_masking_never_keeps_a_nir():
    nir = make_nir()
    assert nir not in mask(f"value {nir} in text")
    assert mask_nir(nir) == nir[0] + "*" * 14
    assert mask("CHAL") == "CHAL"
