"""The support domain's colloquial vocabulary: what clients write → the words templates are written with.

Clients rarely use a template's words: they write «налом» for «наличными», «промик» for «промокод»,
"u" for "you", "died" for "stopped working". A query is expanded with the plain words for the colloquial
ones it holds (the colloquial word stays in the query too), so a team's templates and tags need not list
every slang form. Entries are general to online shops and services — never one message's wording — and
matched by snowball stem, so every word form of an entry counts («налом», «налами»); words of fewer
than four letters are matched as written. A key may be a phrase of consecutive words («два раза»).

Teams with their own jargon add tags to their templates; this list is the shared base.
"""

from __future__ import annotations

from collections.abc import Mapping

from inbox.knowledge.text import stem, words

# colloquial word or phrase → plain words (space separated) that templates use
RU: Mapping[str, str] = {
    # money, payment
    "бабки": "деньги",
    "бабло": "деньги",
    "деньжата": "деньги",
    "нал": "наличные",
    "налом": "наличными",
    "налик": "наличные",
    "наликом": "наличными",
    "безнал": "безналичный оплата",
    "картой": "карта оплата",
    "заплатить": "оплатить",
    "платить": "оплатить",
    "заплатил": "оплатил",
    "сняли": "списали",
    "сняло": "списали",
    "снялись": "списались",
    "два раза": "дважды",
    "дважды": "списали дважды",
    "отклонена": "отклонен",
    "отклонили": "отклонен",
    "мир": "карта",
    "частями": "рассрочка долями",
    "кредитка": "карта",
    "карточка": "карта",
    "сбер": "карта",
    "qr": "сбп",
    # discounts
    "промик": "промокод",
    "промо": "промокод",
    "промка": "промокод",
    "скидос": "скидка",
    "скидон": "скидка",
    "скидочка": "скидка",
    "купончик": "купон",
    "акционный": "акция",
    "халява": "скидка бесплатно",
    # delivery, order
    "посылочка": "посылка",
    "посылка": "посылка заказ",
    "шмотки": "заказ",
    "товарчик": "товар",
    "довезете": "доставите доставка",
    "довезти": "доставить доставка",
    "привезете": "доставите",
    "возите": "доставляете доставка",
    "везти": "доставка",
    "почем": "стоимость сколько стоит",
    "трек": "трек номер отследить",
    "трекинг": "отслеживание трек",
    "отслеживание": "отследить",
    "болтается": "задерживается",
    "застрял": "задерживается",
    "висит": "статус не меняется",
    "сдек": "сдэк",
    "почта": "почта доставка",
    "курьерка": "курьерская доставка",
    "пвз": "пункт выдачи",
    # returns, refunds, cancelling, changing
    "сдать": "вернуть",
    "сдать назад": "вернуть",
    "обратно": "вернуть",
    "назад": "вернуть",
    "жмут": "не подошел размер",
    "жмет": "не подошел размер",
    "велики": "не подошел размер",
    "малы": "не подошел размер",
    "село": "не подошло",
    "передумал": "отменить",
    "передумала": "отменить",
    "неактуален": "отменить заказ",
    "не актуален": "отменить заказ",
    "не актуально": "отменить заказ",
    "отказалась": "отказ",
    "отказался": "отказ",
    "переехал": "другой адрес",
    "переехала": "другой адрес",
    "перенести": "перенести доставку другой день",
    "перенесите": "перенести доставку другой день",
    # damage, defects, warranty
    "мятая": "поврежден",
    "мятый": "поврежден",
    "помятая": "поврежден",
    "треснувшая": "треснул",
    "битый": "разбит",
    "разбилась": "разбит",
    "разбился": "разбит",
    "осколки": "разбит",
    "косяк": "брак",
    "не греется": "не работает",
    "не включается": "не работает",
    "потух": "не работает",
    "сдох": "сломался",
    "сдохла": "сломался",
    "накрылся": "сломался",
    "глючит": "не работает",
    "перестал": "перестал работать",
    "перестала": "перестал работать",
    "починка": "ремонт",
    "сервис": "сервисный центр",
    # documents
    "закрывашки": "закрывающие документы",
    "закрывающие": "закрывающие документы",
    "бухгалтерия": "документы для бухгалтерии",
    "чек": "чек",
    "чекушка": "чек",
    "счет": "счет",
    # account
    "пороль": "пароль",
    "парол": "пароль",
    "акк": "аккаунт",
    "кабинет": "личный кабинет",
    "не пускает": "не могу войти",
    "зайти": "войти",
    "залогиниться": "войти",
    # contact, people
    "человек": "живой человек оператор",
    "бот": "живой человек оператор",
    "робот": "живой человек оператор",
    "наберите": "позвоните",
    "звякните": "позвоните",
    "звонок": "позвоните",
    "менеджер": "менеджер",
    # stock
    "завезете": "поступление",
    "завоз": "поступление",
    "размерчик": "размер",
    # greetings, closing, short
    "ау": "алло есть кто",
    "эй": "алло есть кто",
    "хай": "привет",
    "здрасьте": "здравствуйте",
    "спасибки": "спасибо",
    "спс": "спасибо",
    "пасиб": "спасибо",
    "сенкс": "спасибо",
    "благодарствую": "спасибо",
    "пж": "пожалуйста",
    "плиз": "пожалуйста",
    "разобрались": "разобрался",
    "ок": "хорошо",
}

EN: Mapping[str, str] = {
    # shorthand
    "u": "you",
    "ur": "your",
    "pls": "please",
    "plz": "please",
    "thx": "thanks",
    "ty": "thank you",
    "tysm": "thank you",
    "cheers": "thanks",
    "asap": "urgent",
    # money, payment
    "amex": "credit card",
    "visa": "credit card",
    "mastercard": "credit card",
    "card": "credit card",
    "take": "accept",
    "venmo": "payment",
    "cash": "cash on delivery",
    "declined": "payment declined",
    "charged twice": "double charge",
    "twice": "charged twice",
    "bounced": "payment failed",
    # discounts
    "promo": "promo code",
    "coupon": "coupon",
    "deal": "discount",
    "deals": "discount",
    # delivery, order
    "stuff": "order",
    "package": "package",
    "parcel": "parcel",
    "shipment": "order",
    "door": "delivered",
    "eta": "when will it arrive",
    "cost": "shipping cost",
    "costs": "shipping cost",
    # returns, refunds, cancelling, changing
    "pinch": "too small",
    "tight": "too small",
    "loose": "too big",
    "send back": "return",
    "don't ship": "cancel",
    "dont ship": "cancel",
    "moved": "new address",
    "office": "different address",
    "reroute": "change address",
    "redirect": "change address",
    # damage, defects, warranty
    "pieces": "broken",
    "smashed": "broken",
    "shattered": "broken",
    "busted": "broken",
    "died": "stopped working",
    "dead": "stopped working",
    "stopped": "stopped working",
    "glitchy": "not working",
    # documents
    "vat": "vat invoice",
    # account
    "log in": "login",
    "locked": "locked out",
    # contact, people
    "human": "real person",
    "bot": "real person",
    "rep": "real person",
    "agent": "real person",
    "phone": "call me",
    # stock
    "restocked": "restock",
    "restocking": "restock",
    # greetings, closing
    "yo": "hey",
    "hellooo": "hello",
    "helloo": "hello",
    "sup": "hey",
    "sorted": "resolved",
    "ta": "thanks",
    "thanx": "thanks",
}


SHORT = 4  # a word this short is matched as written: its stem would be a stray letter («ау» → «а»)


def _stem(word: str) -> str:
    return word if len(word) < SHORT else stem(word)


def _stems(phrase: str) -> tuple[str, ...]:
    return tuple(_stem(word) for word in words(phrase))


def _by_stems(*lexicons: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    table: dict[tuple[str, ...], str] = {}
    for lexicon in lexicons:
        for colloquial, plain in lexicon.items():
            key = _stems(colloquial)
            table[key] = f"{table[key]} {plain}" if key in table and plain not in table[key] else plain
    return table


BY_STEMS = _by_stems(RU, EN)
LONGEST = max(len(key) for key in BY_STEMS)


def plain_words(text: str) -> str:
    """The plain words for the colloquial words and phrases of `text` (empty when it has none)."""
    stems = [_stem(word) for word in words(text)]
    found: list[str] = []
    for start in range(len(stems)):
        for size in range(1, min(LONGEST, len(stems) - start) + 1):
            plain = BY_STEMS.get(tuple(stems[start : start + size]))
            if plain is not None and plain not in found:
                found.append(plain)
    return " ".join(found)
