"""Values under secret-like key names, in every form a log writes them.

A key is found from its secret-like stem (pass, secret, token, 비밀번호 …) outwards, so a prefix
or suffix in any case style belongs to it (DB_PASSWORD, dbPassword, db.password, X-Api-Key,
"clientSecret"): the regex matches from the stem to the separator, and the part of the name
before the stem is read backwards from a short slice. The value is then read by an anchored
regex, so a rejected name never swallows the text after it, and every quantifier is
possessive or bounded: the scan is linear in the text.
"""
from __future__ import annotations

import re
from typing import List, Tuple, cast

from .validators import is_placeholder, looks_random, name_strength

# Grouped by first character: each alternative then starts with its own literal, which lets
# the regex engine skip every position whose character starts no stem.
_STEMS = (r"p(?:ass|w|in)|s(?:ecret|ession|essid|ig|sn)|t(?:oken)|c(?:red|ookie|vv|vc)|"
          r"a(?:uth)|k(?:ey)|j(?:wt)|b(?:earer)|o(?:tp)|비(?:밀|번)|패스워드|암호|키|토큰|세션|쿠키|"
          r"주민|등록번호|계좌|카드번호|여권|면허|보안코드|인증")
# Lower-case substrings of which one must be in a text for the key rule to run at all.
KEYWORDS = ("pass", "pw", "pin", "secret", "session", "sessid", "sig", "ssn", "token", "cred",
            "cookie", "cvv", "cvc", "auth", "key", "jwt", "bearer", "otp",
            "비밀", "비번", "패스워드", "암호", "키", "토큰", "세션", "쿠키",
            "주민", "등록번호", "계좌", "카드번호", "여권", "면허",
            "보안코드", "인증")

_AFTER_STEM = (r"(?P<rest>[\w.\-]{0,40}+)(?P<close>\\{0,3}+[\"'])?+"
               r"(?P<sep>[ \t]{0,8}+(?::=|=>|==|[:=])[ \t]{0,8}+)")
# Run on the lower-cased text; the case-insensitive form is for the rare text whose lower-case
# form has another length (offsets must agree).
CANDIDATE = re.compile(r"(?:" + _STEMS + r")" + _AFTER_STEM)
CANDIDATE_ANY_CASE = re.compile(r"(?i)(?:" + _STEMS + r")" + _AFTER_STEM)
_NAME_BEFORE = re.compile(r"[\w.\-]{0,40}+")
VALUE = re.compile(
    r"(?P<ref>\$\{[^}\n]{0,256}+\}|\{\{[^}\n]{0,256}+\}\})"
    r"|\"(?P<s1>(?:[^\"\\\n]|\\.){1,2048}+)\""
    r"|'(?P<s2>[^'\n]{1,2048}+)'"
    r"|\\{1,3}+\"(?P<s3>[^\"\\\n]{1,2048}+)\\{1,3}+\""
    r"|`(?P<s4>[^`\n]{1,2048}+)`"
    r"|(?P<s5>[\"'\\]{0,4}+[^\s\"'`,;&<>(){}\[\]|\\]{1,4096}+)")


def find(text: str, lowered: str) -> List[Tuple[int, int]]:
    """Spans of the values to hide (lowered: text.lower()). Written as one plain loop with
    its lookups in locals: a text may hold thousands of keys, each passes through here."""
    if len(lowered) == len(text):
        search, scanned = CANDIDATE.search, lowered
    else:
        search, scanned = CANDIDATE_ANY_CASE.search, text
    value_at, strength_of, name_before = VALUE.match, name_strength, _NAME_BEFORE.match
    spans: List[Tuple[int, int]] = []
    pos = 0
    while True:
        match = search(scanned, pos)
        if match is None:
            return spans
        stem, name_end, pos = match.start(), match.end("rest"), match.end()
        start = stem
        if stem and (text[stem - 1].isalnum() or text[stem - 1] in "_.-"):
            # The name begins before its stem (DB_PASSWORD, clientSecret): read it backwards.
            # The pattern matches the empty string too: there is always a match.
            start -= cast(re.Match, name_before(text[max(0, stem - 40):stem][::-1])).end()
        name = text[start:name_end]
        strength = strength_of(name)
        if strength is None:
            continue
        value = value_at(text, pos)
        if value is None:
            continue
        # Key names inside this value are not looked for again: each character is read by a
        # bounded number of matches, whatever the text repeats.
        pos = value.end()
        group = cast(str, value.lastgroup)  # each form of a value is one named group
        if group == "ref":
            continue  # a reference to a secret (${DB_PASSWORD}), not the secret
        secret = value.group(group)
        if is_placeholder(secret) or strength == "weak" and not looks_random(secret):
            continue
        if secret[0] in "/~" and name[-3:].lower() == "pwd":
            continue  # PWD is also the shell's working directory
        spans.append(value.span(group))
