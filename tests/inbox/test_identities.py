"""Identity normalization: one stored form per person-visible spelling."""

import pytest
from email_validator import EmailNotValidError, validate_email

from inbox.identities import InvalidIdentity, normalize, normalize_email


@pytest.mark.parametrize(
    "spelling", ["8 (913) 909-73-32", "+7 913 909 73 32", "79139097332", "+7(913)9097332"]
)
def test_russian_phone_spellings_are_one_e164_number(spelling: str) -> None:
    assert normalize("phone", spelling, "RU") == "+79139097332"


def test_moscow_landline_with_trunk_prefix_stays_russian() -> None:
    assert normalize("phone", "8 (495) 123-45-67", "RU") == "+74951234567"


def test_foreign_number_without_plus_is_still_understood() -> None:
    assert normalize("phone", "4930 1234567", "RU") == "+49301234567"


def test_phone_region_comes_from_config() -> None:
    assert normalize("phone", "030 1234567", "DE") == "+49301234567"


@pytest.mark.parametrize("bad", ["12", "not a phone", "+7 000", ""])
def test_invalid_phone_is_refused_with_reason(bad: str) -> None:
    with pytest.raises(InvalidIdentity, match="phone"):
        normalize("phone", bad, "RU")


def test_email_is_lower_cased_whole() -> None:
    assert normalize("email", "  Ivan.Petrov@Mail.RU ") == "ivan.petrov@mail.ru"


@pytest.mark.parametrize("bad", ["ivan", "ivan@", "@mail.ru", "a b@mail.ru", "x@localhost"])
def test_invalid_email_is_refused_with_reason(bad: str) -> None:
    with pytest.raises(InvalidIdentity, match="invalid email"):
        normalize("email", bad)


def test_messenger_ids_are_numeric() -> None:
    assert normalize("telegram", " 0042 ") == "42"
    with pytest.raises(InvalidIdentity, match="numeric"):
        normalize("vk", "id42")


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(InvalidIdentity, match="unknown identity kind"):
        normalize("fax", "123")


_LONG_LOCAL = "x" * 70  # over 64: email-validator lets it through unless strict
EMAIL_SPELLINGS = [
    "Ivan.Petrov@Mail.RU",
    " user+tag@example.com ",
    "a!#$%&'*+-/=?^_`{|}~@example.org",
    f"{_LONG_LOCAL}@example.com",
    "x@" + "a" * 60 + "." + "b" * 60 + "." + "c" * 60 + "." + "d" * 60 + ".com",  # 254 characters and over
    "x" * 63 + "@" + "a" * 60 + "." + "b" * 60 + "." + "c" * 60 + ".com",
    "y" * 20 + "@" + "a" * 60 + "." + "b" * 60 + "." + "c" * 60 + "." + "d" * 48 + ".com",  # 256: too long
    ".dot@example.com",
    "dot.@example.com",
    "two..dots@example.com",
    "two@at@example.com",
    "@example.com",
    "nobody@",
    "nobody@localhost",
    "nobody@example.test",
    "nobody@example.invalid",
    "nobody@under_score.com",
    "nobody@trailing.dot.",
    "nobody@123.456",
    "nobody@-hyphen.com",
    "nobody@[127.0.0.1]",
    '"quoted local"@example.com',
    "Ivan <ivan@example.com>",
    "иван@example.com",
    "ivan@пример.рф",
    "ivan@XN--E1AFMKFD.XN--P1AI",
    "ivan@ex ample.com",
    "Postmaster@Example.com",
]


@pytest.mark.parametrize("spelling", EMAIL_SPELLINGS)
def test_email_shortcut_agrees_with_email_validator(spelling: str) -> None:
    """The common address skips email-validator's whole-address pass (its domain is checked once per
    domain): every spelling gives what email-validator gives, or is refused as it refuses it."""
    try:
        expected: str | None = validate_email(spelling.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        expected = None
    if expected is None:
        with pytest.raises(InvalidIdentity):
            normalize_email(spelling)
    else:
        assert normalize_email(spelling) == expected
