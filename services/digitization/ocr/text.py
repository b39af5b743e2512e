"""Text folding and shape repair for OCR output: pure functions, no engine."""

from __future__ import annotations

import re
import unicodedata

# Letters OCR puts where a digit was printed; only applied inside tokens that are mostly
# digits, so a name never turns into numbers.
_DIGIT_LOOKALIKES = str.maketrans({
    "O": "0", "o": "0", "D": "0", "Q": "0", "I": "1", "l": "1", "|": "1", "i": "1", "!": "1",
    "Z": "2", "z": "2", "S": "5", "s": "5", "B": "8", "G": "6", "b": "6",
})
_SEPARATORS = "-./"
_SPACES = re.compile(r"\s+")


def nfc(text: str) -> str:
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def fold(text: str) -> str:
    """Lower case, without diacritics, đ as d, single spaces: for labels and weak name
    comparison. Keeps the length of plain letters, not of the original string."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return _SPACES.sub(" ", bare.casefold()).strip()


def digits_of(token: str) -> tuple[str, bool] | None:
    """The digits a token stands for, and whether look-alike letters were repaired; None if
    the token is not mostly digits (a word, a label)."""
    core = token.strip(".,;:()[]{}'\"")
    if not core:
        return None
    digits = sum(c.isdigit() for c in core)
    if digits == 0 or digits < len(core) / 2:
        return None
    repaired = core.translate(_DIGIT_LOOKALIKES)
    cleaned = "".join(c for c in repaired if c.isdigit())
    # Separators inside a number ("001-090-012345", "0123.456.789") are dropped; anything
    # else left after repair is a sign the token was misread.
    stray = any(not c.isdigit() and c not in _SEPARATORS for c in repaired)
    return cleaned, repaired != core or stray


def name_words(tokens: list[str]) -> list[str]:
    """The leading run of tokens that look like parts of a personal name."""
    words: list[str] = []
    for token in tokens:
        word = token.strip(".,;:|!'\"`-_~()[]")
        if not word or not all(c.isalpha() for c in word) or token.endswith(":"):
            break
        words.append(word)
    return words
