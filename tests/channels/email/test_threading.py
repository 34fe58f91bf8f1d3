"""Message-IDs, reply subjects and the signed reply token."""

from __future__ import annotations

import pytest

from channels.email.threading import (
    ReplyTokens,
    clean_message_id,
    outbound_message_id,
    plus_address,
    references_of,
    reply_subject,
    strip_prefixes,
    subject_hint,
)


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Вопрос по заказу", "Re: Вопрос по заказу [#7]"),
        ("Re: Вопрос по заказу", "Re: Вопрос по заказу [#7]"),
        ("RE: Re: Fwd: AW: Ответ: Вопрос по заказу", "Re: Вопрос по заказу [#7]"),
        ("Re[2]: RE (3): FW: Вопрос", "Re: Вопрос [#7]"),
        ("Re: Вопрос [#7]", "Re: Вопрос [#7]"),
        ("Отв: Пересл: Вопрос [#3]", "Re: Вопрос [#7]"),
        ("Reply needed", "Re: Reply needed [#7]"),
        ("", "Re: [#7]"),
    ],
)
def test_reply_subject_never_stacks_prefixes(subject: str, expected: str) -> None:
    assert reply_subject(subject, 7) == expected


def test_reply_subject_without_the_tag() -> None:
    assert reply_subject("Re: RE: x [#7]", 7, tag=False) == "Re: x"


def test_strip_prefixes_keeps_words_that_only_look_like_prefixes() -> None:
    assert strip_prefixes("Refund request") == "Refund request"
    assert strip_prefixes("Ответьте, пожалуйста") == "Ответьте, пожалуйста"


def test_subject_hint_reads_the_last_conversation_tag() -> None:
    assert subject_hint("Re: Заказ [#12]") == 12
    assert subject_hint("Fwd: [#3] Re: Заказ [#12]") == 12
    assert subject_hint("Заказ #12") is None
    assert subject_hint(None) is None


def test_message_ids_lose_their_brackets_and_references_come_newest_first() -> None:
    assert clean_message_id(" <abc@example.ru> (comment)") == "abc@example.ru"
    assert clean_message_id("bare@example.ru") == "bare@example.ru"
    assert clean_message_id("not an id") is None
    assert references_of("<c@x>", "<a@x>\n <b@x> <c@x>") == ("c@x", "b@x", "a@x")


def test_reply_token_round_trips_and_refuses_a_forged_or_foreign_one() -> None:
    tokens = ReplyTokens(b"account-secret", account_id=3)
    token = tokens.make(42)
    assert tokens.find([f"Support <support+{token}@example.com>"]) == 42
    assert tokens.find([f"<{token}.okno-9-ab@example.com>"]) == 42
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    assert tokens.find([f"support+{forged}@example.com"]) is None
    assert tokens.find(["support+c43-" + token.split("-")[1] + "@example.com"]) is None
    assert ReplyTokens(b"account-secret", account_id=4).find([token]) is None  # another account's
    assert ReplyTokens(b"other-key", account_id=3).find([token]) is None


def test_outbound_message_id_is_stable_for_one_outbox_row() -> None:
    first = outbound_message_id("okno-17-ab12", "example.com", "c5-0123456789")
    assert first == outbound_message_id("okno-17-ab12", "example.com", "c5-0123456789")
    assert first != outbound_message_id("okno-18-ab12", "example.com", "c5-0123456789")
    assert first.startswith("c5-0123456789.") and first.endswith("@example.com")
    assert len(f"Message-ID: <{first}>") <= 78  # one header line
    assert outbound_message_id("okno-17-ab12", "example.com", None).startswith("okno.")
    assert plus_address("support@example.com", "c5-0123456789") == "support+c5-0123456789@example.com"
