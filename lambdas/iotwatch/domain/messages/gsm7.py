"""GSM-7, the SMS alphabet: what fits in one 160-character part, and plain stand-ins for the rest."""

from __future__ import annotations

SMS_LIMIT = 160

_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€")
_ASCII_FALLBACKS = {
    "—": "-",
    "–": "-",
    "−": "-",
    "σ": "sd",
    "’": "'",
    "…": "...",
    "×": "x",
    "→": ">",
    "≈": "~",
}


def to_gsm7(text: str) -> str:
    out = []
    for ch in text:
        if ch in _GSM7_BASIC or ch in _GSM7_EXTENDED:
            out.append(ch)
        else:
            out.append(_ASCII_FALLBACKS.get(ch, "?"))
    return "".join(out)


def gsm7_length(text: str) -> int:
    """Septets used; extension characters take two. Raises if a character is not GSM-7."""
    total = 0
    for ch in text:
        if ch in _GSM7_BASIC:
            total += 1
        elif ch in _GSM7_EXTENDED:
            total += 2
        else:
            raise ValueError(f"{ch!r} is not a GSM-7 character")
    return total


def trim_to_sms(text: str) -> str:
    """`text` (GSM-7 already) cut at the end until it fits one SMS part."""
    while gsm7_length(text) > SMS_LIMIT:
        text = text[:-1]
    return text
