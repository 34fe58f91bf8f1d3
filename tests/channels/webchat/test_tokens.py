"""Visitor tokens: issued by the hub, verified by it, bound to one account, not forgeable, and they
expire (renewed on use past half their life)."""

from __future__ import annotations

from channels.webchat.tokens import _mac, current, new_visitor_id, sign, verify

KEY = b"k" * 32
NOW = 1_800_000_000.0
DAY = 86400.0
LIFE = 90 * DAY


def test_a_signed_token_verifies_to_its_visitor() -> None:
    visitor = new_visitor_id()
    checked = verify(KEY, 1, sign(KEY, 1, visitor, NOW), now=NOW)
    assert checked is not None and checked.visitor_id == visitor and not checked.renew


def test_tokens_of_another_account_key_or_visitor_are_refused() -> None:
    visitor, other = new_visitor_id(), new_visitor_id()
    token = sign(KEY, 1, visitor, NOW)
    assert verify(KEY, 2, token, now=NOW) is None
    assert verify(b"other key", 1, token, now=NOW) is None
    forged = other + "." + token.split(".", 1)[1]
    assert verify(KEY, 1, forged, now=NOW) is None
    younger = token.replace(f".{int(NOW)}.", f".{int(NOW + 80 * DAY)}.")  # a moved issue time
    assert verify(KEY, 1, younger, now=NOW + 80 * DAY) is None
    for junk in (None, 42, "", ".", "..", visitor, "a.b", "x" * 500, f"{visitor}.{'A' * 43}"):
        assert verify(KEY, 1, junk, now=NOW) is None


def test_a_token_expires_and_is_renewed_past_half_its_life() -> None:
    visitor = new_visitor_id()
    token = sign(KEY, 1, visitor, NOW)
    assert current(KEY, 1, token, now=NOW + 44 * DAY, lifetime=LIFE) == (visitor, token)
    renewed = current(KEY, 1, token, now=NOW + 46 * DAY, lifetime=LIFE)
    assert renewed is not None and renewed[0] == visitor and renewed[1] != token
    assert current(KEY, 1, renewed[1], now=NOW + 130 * DAY, lifetime=LIFE) is not None
    assert current(KEY, 1, token, now=NOW + 90 * DAY, lifetime=LIFE) is None


def test_a_token_from_before_expiry_existed_is_honoured_and_renewed() -> None:
    visitor = new_visitor_id()
    legacy = f"{visitor}.{_mac(KEY, 1, visitor, None)}"
    found = current(KEY, 1, legacy, now=NOW)
    assert found is not None and found[0] == visitor and found[1].count(".") == 2


def test_visitor_ids_are_random_and_usable_as_identities() -> None:
    ids = {new_visitor_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 24 and "." not in i for i in ids)
