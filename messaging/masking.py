"""Contact details in a message, found and hidden until two people have a confirmed stay.

Why: a marketplace is paid through its bookings, and guests are safer when the deal
and its payment stay on the platform; so until a stay between two users is confirmed,
email addresses, phone numbers and outside links in their messages are replaced by
`HIDDEN` before the message is stored (API.md, Safety).

How, in order (every found span is replaced, overlapping spans merged):
1. Dates, times and amounts of money are set aside first, so that no later step takes
   them (or two dates of a range joined by a dash) for a phone number.
2. Email addresses, plain or spelled out ("ann (at) mail (dot) com").
3. Links: `http(s)://...`, `www....` and bare domains of common top-level domains,
   except links to this site itself (they start with `PUBLIC_URL`).
4. Phone numbers: Google's libphonenumber (the `phonenumbers` package) finds numbers
   written the ways each of several countries writes them; a run of 7 or more digits
   joined only by spaces, dots, dashes, slashes or brackets (with a leading `+` or
   not) is a phone number too, as the contract defines one. Candidates with fewer than
   7 digits are left alone (room numbers, guest counts, short prices), and so are
   those glued to Latin letters or digits (references such as "AB1234 5678").
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import phonenumbers

HIDDEN = "[hidden until a stay is confirmed]"
MIN_PHONE_DIGITS = 7
# libphonenumber reads national formats per country: the ones most of the guests and
# hosts write in (numbers with a leading + or 00 are read whatever the region).
PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "PT", "BR", "IN", "JP", "AU", "CH")

_CURRENCY = r"(?:[€$£¥₹]|eur|euros?|usd|gbp|chf|dollars?|pounds?|kr|zł|reais|r\$)"
_NUMBER = r"\d[\d.,' ]*\d|\d"
_DATE = r"(?:\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})|\d{4}[./-]\d{1,2}[./-]\d{1,2})"
# Step 1: what must never be taken for a phone number.
_PROTECTED = re.compile(
    "|".join(
        [
            # 12.05.2027, 12/05/2027, 05-12-27, 2027-05-12, and ranges of them
            # (not a piece of a longer dotted run such as 01.23.45.67.89)
            rf"(?<![\d./-]){_DATE}(?:\s?[-\u2013]\s?{_DATE})?(?![./-]?\d)",
            # 14:30, 14h30, 2:30pm
            r"(?<!\d)\d{1,2}(?::|h)\d{2}(?!\d)",
            # €1.200.000, 1,200 EUR, 1 200 €, $ 950
            rf"{_CURRENCY}\s?(?:{_NUMBER})",
            rf"(?:{_NUMBER})\s?{_CURRENCY}(?![a-z])",
            # 1,200,000 (comma-grouped thousands, optional decimals): an amount
            r"(?<![\d.])\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?(?![\d,])",
        ]
    ),
    re.IGNORECASE,
)
_EMAIL = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|[\w.+-]+\s*(?:\(at\)|\[at\]|\{at\}|\s+at\s+)\s*[\w-]+"
    r"(?:\s*(?:\(dot\)|\[dot\]|\{dot\}|\s+dot\s+)\s*[\w-]+)+",
    re.IGNORECASE,
)
_TLDS = (
    "com|net|org|info|biz|io|co|me|app|dev|site|online|link|ly|to|gl|tv|xyz|eu|uk|us|de|"
    "fr|es|it|nl|pt|be|ch|at|pl|se|no|dk|fi|ie|cz|gr|ru|br|mx|ar|in|jp|cn|au|ca|nz"
)
_URL = re.compile(
    r"(?:https?://|www\.)[^\s<>\"']+"
    rf"|(?<![@\w.-])(?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+(?:{_TLDS})(?![\w.-]*@)\b"
    r"(?:/[^\s<>\"']*)?",
    re.IGNORECASE,
)
# A run of digits joined by phone-number punctuation (no line breaks, no letters).
# Digits with at most a few non-word characters between them: what a number's digits
# look like to any region's matcher (letters in between end a number).
_DIGIT_CLUSTER = re.compile(r"\d(?:[^\w]{0,6}\d)*")
_DIGIT_RUN = re.compile(r"(?:\+|\b00)?[(]?\d(?:[ \t.\-/()]{0,3}\d)+[)]?")
_TRAILING = ".,;:!?)]}'\""

Span = tuple[int, int]


def mask_contact_details(text: str, *, own_url: str = "") -> tuple[str, bool]:
    """`text` with its contact details replaced by `HIDDEN`, and whether any were.

    `own_url` is this site's address (`PUBLIC_URL`): links that start with it are kept.
    """
    spans = contact_spans(text, own_url=own_url)
    if not spans:
        return text, False
    parts, last = [], 0
    for start, end in spans:
        parts += [text[last:start], HIDDEN]
        last = end
    parts.append(text[last:])
    return "".join(parts), True


def contact_spans(text: str, *, own_url: str = "") -> list[Span]:
    """Where the contact details of `text` are: merged `(start, end)` spans, in order."""
    work = _blank(text, (m.span() for m in _PROTECTED.finditer(text)))
    found: list[Span] = []
    for match in _EMAIL.finditer(work):
        found.append(match.span())
    work = _blank(work, found)
    for match in _URL.finditer(work):
        start, end = match.start(), _strip_trailing(work, match.start(), match.end())
        if own_url and _is_own(text[start:end], own_url):
            continue
        found.append((start, end))
    work = _blank(work, found)
    found += _phone_spans(work)
    return _merge(found)


def _is_own(link: str, own_url: str) -> bool:
    """Whether `link` is on this site: `own_url` itself, or followed by / ? or #."""
    link, own = link.lower(), own_url.lower().rstrip("/")
    return link == own or (link.startswith(own) and link[len(own)] in "/?#")


def _phone_spans(work: str) -> list[Span]:
    if not any(
        sum(ch.isdigit() for ch in m.group()) >= MIN_PHONE_DIGITS
        for m in _DIGIT_CLUSTER.finditer(work)
    ):
        # The common case: no 7 digits together (a date, a price, an id mixing letters
        # and digits): no parsing at all. phonenumbers' matcher, once per region, was a
        # sixth of a message's CPU for such bodies (bench/README.md).
        return []
    spans = []
    for region in PHONE_REGIONS:
        for match in phonenumbers.PhoneNumberMatcher(
            work, region, leniency=phonenumbers.Leniency.POSSIBLE
        ):
            spans.append((match.start, match.end))
    for match in _DIGIT_RUN.finditer(work):
        spans.append((match.start(), _strip_trailing(work, match.start(), match.end())))
    return [
        (start, end)
        for start, end in spans
        if sum(ch.isdigit() for ch in work[start:end]) >= MIN_PHONE_DIGITS
        and not _glued(work, start, end)
    ]


def _glued(text: str, start: int, end: int) -> bool:
    """Whether a span runs on into Latin letters or digits: "AB1234 5678" is a
    reference, not a phone number (libphonenumber's own matcher judges candidates so
    from its VALID leniency on; at POSSIBLE, which finds national formats, it does not)."""

    def latin(ch: str) -> bool:
        return ch.isascii() and ch.isalnum()

    return (start > 0 and latin(text[start - 1])) or (end < len(text) and latin(text[end]))


def _strip_trailing(text: str, start: int, end: int) -> int:
    """A match's end without the punctuation that closes the sentence around it."""
    while end > start and text[end - 1] in _TRAILING:
        if text[end - 1] == ")" and text[start:end].count("(") >= text[start:end].count(")"):
            break  # "(0)30 ..." or "example.com/page_(info)": the bracket belongs to it
        end -= 1
    return end


def _blank(text: str, spans: Iterable[Span]) -> str:
    """`text` with each span overwritten by letters, its length (so positions) kept."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = "x" * (end - start)
    return "".join(chars)


def _merge(spans: list[Span]) -> list[Span]:
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]
