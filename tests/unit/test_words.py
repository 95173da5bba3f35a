from __future__ import annotations

import pytest

from rawtune.data.words import split_words


def words(text: str) -> list[str]:
    return [w for w, _, _ in split_words(text)]


@pytest.mark.parametrize(
    "text",
    [
        "New York's mayor, Mr. Smith.",
        "U.S.-based firms paid 1,000 dollars (3.5%) at 12:30.",
        "cafe\u0301 naïve Zürich",  # decomposed é: the combining mark stays in the word
        "हिन्दी भाषा",
        "東京に行く",
        "I don't like it 👍🏽 🇩🇪!",
        "  leading\tand\n trailing  ",
        "Müller’s «quote»—dash",
        "",
    ],
)
def test_offsets_round_trip(text: str) -> None:
    spans = split_words(text)
    assert all(text[s:e] == w for w, s, e in spans)
    assert all(spans[i][2] <= spans[i + 1][1] for i in range(len(spans) - 1))
    # nothing but whitespace is dropped
    kept = "".join(w for w, _, _ in spans)
    assert kept == "".join(text.split())


def test_conll_like_punctuation_and_clitics() -> None:
    assert words("New York's mayor, Mr. Smith.") == [
        "New",
        "York",
        "'s",
        "mayor",
        ",",
        "Mr.",  # PTB and CoNLL keep a known abbreviation's dot
        "Smith",
        ".",
    ]
    assert words("I don't know") == ["I", "do", "n't", "know"]
    assert words("O'Neil's state-of-the-art rock'n'roll") == [
        "O'Neil",
        "'s",
        "state-of-the-art",
        "rock'n'roll",
    ]


def test_numbers_and_abbreviations_stay_whole() -> None:
    assert words("U.S.-based: 3.5 and 1,000 at 12:30, e.g. now.") == [
        "U.S.",
        "-",
        "based",
        ":",
        "3.5",
        "and",
        "1,000",
        "at",
        "12:30",
        ",",
        "e.g.",
        "now",
        ".",
    ]
    assert words("in 1999.") == ["in", "1999", "."]


def test_unicode_words() -> None:
    assert words("cafe\u0301 Zürich") == ["cafe\u0301", "Zürich"]
    assert words("हिन्दी भाषा") == ["हिन्दी", "भाषा"]
    assert words("東京に") == ["東", "京", "に"]
    assert words("ok 👍🏽!") == ["ok", "👍🏽", "!"]


def test_offsets_of_a_sentence() -> None:
    assert split_words("Hi, Bob.") == [("Hi", 0, 2), (",", 2, 3), ("Bob", 4, 7), (".", 7, 8)]


def test_conll_conventions_of_pre_split_text() -> None:
    """CoNLL-2003 sentences joined by spaces split back into their own words (98 % of the dev set
    before the rules below: 74 %), so a model trained on CoNLL words sees the same words in raw text."""
    assert words("Germany 's rep I 'm -- J. Smith ...") == [
        "Germany", "'s", "rep", "I", "'m", "--", "J.", "Smith", "...",
    ]  # fmt: skip
    assert words("1. Ajax 3 0 .496 C$ 1.5 Inc. Corp.") == [
        "1.",
        "Ajax",
        "3",
        "0",
        ".496",
        "C$",
        "1.5",
        "Inc.",
        "Corp.",
    ]
    # and where the dot ends a sentence it stays a word of its own
    assert words("He won in 1996.") == ["He", "won", "in", "1996", "."]
    assert words("Plan B.") == ["Plan", "B", "."]
    assert words("It is 1. Then") == ["It", "is", "1", ".", "Then"]  # a list number only opens a text
    assert words("' quoted '") == ["'", "quoted", "'"]


def sentences(text: str) -> list[str]:
    from rawtune.data.words import split_sentences

    return [text[s:e] for s, e in split_sentences(text)]


def test_sentences_end_at_a_stop_before_a_capital_and_never_at_an_abbreviation() -> None:
    assert sentences("Mr. Smith went to Washington. He arrived at 5 p.m. yesterday.") == [
        "Mr. Smith went to Washington.",
        "He arrived at 5 p.m. yesterday.",
    ]
    assert sentences("Prices rose 3.5 percent. shares fell.") == ["Prices rose 3.5 percent. shares fell."]
    assert sentences("The U.S. Army came. J. Smith left.") == ["The U.S. Army came.", "J. Smith left."]
    assert sentences("Is it? Yes! Fine... 42 more") == ["Is it?", "Yes!", "Fine...", "42 more"]


def test_closing_quotes_stay_with_their_sentence_and_opening_ones_start_the_next() -> None:
    assert sentences('He said "Stop." Then he left.') == ['He said "Stop."', "Then he left."]
    assert sentences('Wow?! "Really." (Then) more') == ["Wow?!", '"Really."', "(Then) more"]


def test_blank_lines_cjk_and_devanagari_stops_and_no_words() -> None:
    assert sentences("one line\n\n  two line\nstill two") == ["one line", "two line\nstill two"]
    assert sentences("東京に行った。次に大阪。") == ["東京に行った。", "次に大阪。"]
    assert sentences("यह एक है। वह दो है।") == ["यह एक है।", "वह दो है।"]
    assert sentences("") == [] and sentences("  \n ") == []


@pytest.mark.parametrize(
    "text", ["New York's mayor, Mr. Smith. He left.", 'A "b." C? d! E... f', "x\n\ny. Z 1. Ajax"]
)
def test_sentences_cut_only_between_words(text: str) -> None:
    from rawtune.data.words import split_sentences

    cut = [w for s, e in split_sentences(text) for w, _, _ in split_words(text[s:e])]
    assert cut == words(text)
