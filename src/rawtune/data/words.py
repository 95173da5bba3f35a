"""Split raw text into words with character offsets, close to CoNLL/PTB tokenisation, so a token
classifier trained on word-split data can label raw text and report spans in the original string.

Rules, in order: a clitic standing alone ("Germany 's", already split) is one word; runs of
dashes or dots ("--", "...") are one word; a few CoNLL/PTB conventions keep their dot or sign: common
abbreviations ("Inc.", "Corp.", "Mr."), an initial before a capitalised word ("J. Smith"), a one- or
two-digit list number opening the text ("1. Ajax"), a decimal without its zero (".496") and currency
prefixes ("C$", "US$"); abbreviations with inner dots ("U.S.", "e.g.") are one word; numbers with
separators ("3.5", "1,000", "12:30", "1/2") are one word; a run of word characters (Unicode
letters with their combining marks, digits, `_`) joined by inner `-`, `'`, `’` or `.` is one word
("state-of-the-art", "O'Neil", "example.com"), with English clitics split off the end as PTB does
("York's" → "York" "'s", "don't" → "do" "n't"); each CJK ideograph or kana is a word of its own
(as BERT's basic tokenizer does for ideographs); any other visible character (grapheme) is a word.

`split_sentences` cuts raw text into sentences on those words (self-training labels sentences of raw
text, as `predict` would label each on its own line): a sentence ends after a word of terminal
punctuation (".", "!", "?", "...", "…", and the CJK and Devanagari full stops) and any closing quotes
or brackets right after it, when whitespace and then a word that does not start with a lowercase
letter (a capital, a digit, an opening quote or bracket, a letter of an uncased script) follow; after
a CJK or Devanagari stop no space is needed. A blank line always ends a sentence. An abbreviation's
dot never ends one, because `split_words` keeps it on its word ("Mr.", "Inc.", "U.S.", "J. Smith"):
"in the U.S. The" stays one sentence, a miss taken for "Mr. Smith" never being cut.
"""

from __future__ import annotations

import regex

_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}"
_W = rf"[^\W{_CJK}]"  # a word character that is not CJK
_ABBREV = "Inc|Corp|Ltd|Co|Mr|Mrs|Ms|Dr|Jr|Sr|St|vs|No|Gen|Gov|Sen|Rep|Prof|Bros|Jan|Feb|Aug|Sept|Oct|Nov|Dec"
_TOKEN = regex.compile(
    rf"""
      (?<!{_W})(?i:['’](?:s|re|ve|ll|d|m)|n['’]t)(?!{_W})   # a clitic on its own: Germany 's
    | -{{2,}} | \.{{2,}} | …                      # -- ...
    | (?<!{_W})(?:{_ABBREV})\.(?!{_W})            # Inc. Corp. Mr.
    | (?<!{_W})\p{{Lu}}\.(?=\s+\p{{Lu}})          # J. Smith
    | ^\p{{Nd}}{{1,2}}\.(?=\s)                     # 1. Ajax (a ranked list)
    | (?<![\p{{Nd}}.])\.\p{{Nd}}+(?!{_W})           # .496
    | (?<!{_W})\p{{Lu}}{{1,3}}\$                     # C$ US$
    | (?:\p{{L}}\p{{M}}*\.){{2,}}                 # U.S. e.g.
    | \p{{Nd}}+(?:[.,:/]\p{{Nd}}+)+(?!{_W})      # 3.5 1,000 12:30 1/2
    | {_W}+(?:[-'’.]{_W}+)*                      # words, hyphenated words, O'Neil
    | [{_CJK}]\p{{M}}*                           # one CJK character
    | (?!\s)\X                                   # any other visible character
    """,
    regex.VERBOSE,
)
_CLITIC = regex.compile(r"(?i)(?:n['’]t|['’](?:s|re|ve|ll|d|m))$")


def split_words(text: str) -> list[tuple[str, int, int]]:
    """(word, start, end) for each word of `text`; `text[start:end] == word` always."""
    words = []
    for m in _TOKEN.finditer(text):
        start, end = m.span()
        clitic = _CLITIC.search(m.group())
        if clitic is not None and clitic.start() > 0:
            cut = start + clitic.start()
            words.append((text[start:cut], start, cut))
            start = cut
        words.append((text[start:end], start, end))
    return words


_TERMINAL = frozenset(".!?…。！？।॥")
_UNSPACED = frozenset("。！？।॥")  # scripts written without a space (or case) after a full stop
_CLOSERS = frozenset("\"')]}»”’")
_OPENERS = frozenset("\"'([{«“‘¿¡")
_BLANK_LINE = regex.compile(r"\n[^\S\n]*\n")


def _terminal(word: str) -> bool:
    return all(c in _TERMINAL for c in word)


def _ends_sentence(text: str, words: list[tuple[str, int, int]], i: int) -> bool:
    """Whether a sentence ends after word `i` (not the last word)."""
    _, _, end = words[i]
    nxt, start, _ = words[i + 1]
    gap = text[end:start]
    if _BLANK_LINE.search(gap):
        return True
    if _terminal(nxt) or (nxt in _CLOSERS and not gap):  # the closing run goes on
        return False
    k = i
    while k > 0 and words[k][0] in _CLOSERS and words[k][1] == words[k - 1][2]:
        k -= 1  # back over the quotes and brackets closed right after the stop
    stop = words[k][0]
    if not _terminal(stop):
        return False
    if any(c in _UNSPACED for c in stop):
        return True
    first = nxt[0]
    return bool(gap) and not first.islower() and (first.isalnum() or first in _OPENERS)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text` (see the module's rules), from its first word's start
    to its last word's end: cuts fall only between words, so no word is ever split."""
    words = split_words(text)
    spans: list[tuple[int, int]] = []
    start = None
    for i, (_, s, e) in enumerate(words):
        start = s if start is None else start
        if i == len(words) - 1 or _ends_sentence(text, words, i):
            spans.append((start, e))
            start = None
    return spans
