"""Readable text from the HTML of HTML-only mail."""

from __future__ import annotations

from channels.email.htmltext import html_to_text


def test_blocks_lists_and_links_become_readable_lines() -> None:
    html = (
        "<h1>Заказ</h1><p>Здравствуйте!</p><ul><li>доставка</li><li>оплата "
        '<a href="https://shop.example.ru/pay">по ссылке</a></li></ul><p>a&nbsp;&amp;&nbsp;b<br>c</p>'
    )
    assert html_to_text(html) == (
        "Заказ\n\nЗдравствуйте!\n\n- доставка\n- оплата по ссылке (https://shop.example.ru/pay)\n\na & b\nc"
    )


def test_scripts_styles_and_head_are_dropped() -> None:
    html = "<html><head><title>T</title><style>p{}</style></head><body><script>x()</script><p>ok</p></body>"
    assert html_to_text(html) == "ok"


def test_blockquote_becomes_quoted_lines() -> None:
    html = (
        "<div>Ответ</div><div>Иван &lt;i@example.ru&gt; пишет:</div>"
        "<blockquote><p>Вопрос</p><p>ещё</p></blockquote>"
    )
    assert html_to_text(html) == "Ответ\nИван <i@example.ru> пишет:\n\n> Вопрос\n>\n> ещё"


def test_link_whose_text_is_its_target_is_shown_once() -> None:
    assert html_to_text('<a href="mailto:a@example.ru">a@example.ru</a>') == "a@example.ru"


def test_preformatted_text_keeps_its_spaces() -> None:
    assert html_to_text("<pre>  a\n    b</pre>") == "  a\n    b"


def test_broken_markup_does_not_fail() -> None:
    assert html_to_text("<p>unclosed <b>bold <i>x</p></div></span>tail") == "unclosed bold x\n\ntail"
