"""Visitor tokens: issued by the hub, verified by it, bound to one account, not forgeable."""

from __future__ import annotations

from channels.webchat.tokens import new_visitor_id, sign, verify

KEY = b"k" * 32


def test_a_signed_token_verifies_to_its_visitor() -> None:
    visitor = new_visitor_id()
    assert verify(KEY, 1, sign(KEY, 1, visitor)) == visitor


def test_tokens_of_another_account_key_or_visitor_are_refused() -> None:
    visitor, other = new_visitor_id(), new_visitor_id()
    token = sign(KEY, 1, visitor)
    assert verify(KEY, 2, token) is None
    assert verify(b"other key", 1, token) is None
    forged = other + "." + token.split(".", 1)[1]
    assert verify(KEY, 1, forged) is None
    for junk in (None, 42, "", ".", visitor, "a.b", "x" * 500, f"{visitor}.{'A' * 43}"):
        assert verify(KEY, 1, junk) is None


def test_visitor_ids_are_random_and_usable_as_identities() -> None:
    ids = {new_visitor_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 24 and "." not in i for i in ids)
