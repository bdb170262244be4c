"""Checks a rule's match must pass before it is redacted: checksums, key names, randomness.

Each takes the regex match and answers whether it is a secret. They run only on matches,
never on the whole text, so they may be written plainly in Python.
"""
from __future__ import annotations

import functools
import math
import re
from collections import Counter
from functools import lru_cache
from typing import Callable, Dict, List, Optional

Validator = Callable[["re.Match[str]"], bool]

# A key name is split into words at separators and case changes (DB_PASSWORD, dbPassword,
# db.password, X-Api-Key). The word lists say which names hold a secret.
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[^0-9A-Za-z\uac00-\ud7a3]++")

# A value under one of these is redacted whatever it looks like: passwords are often words.
STRONG_WORDS = frozenset({
    "password", "passwd", "passwort", "passphrase", "pass", "pwd", "pw", "secret", "secrets",
    "credential", "credentials", "creds", "otp", "ssn", "cvv", "cvc", "pin",
})
STRONG_PARTS = (
    "password", "passwd", "passphrase", "secret", "apikey", "accesskey", "privatekey",
    "accountkey", "sharedaccesskey", "authkey", "masterkey", "encryptionkey", "signingkey",
    "licensekey", "subscriptionkey", "credential", "clientkey", "servicekey", "appkey",
    "hmackey", "adminkey", "deploykey", "webhookkey", "sessionkey", "keydata",
    # Korean: password, password (loan word), cipher/password, secret key, private key,
    # authentication key, resident registration number, alien registration number,
    # account number, card number, passport number, driver's licence number, security
    # code, verification number, access key.
    "비밀번호", "비번", "패스워드", "암호", "비밀키", "개인키", "인증키", "시크릿", "주민등록번호",
    "주민번호", "외국인등록번호", "계좌번호", "카드번호", "여권번호", "면허번호", "보안코드",
    "인증번호", "액세스키", "접근키", "api키",
)
# A value under one of these is redacted only when it looks random: "token expired" and
# "session 0x1f..." stay readable, "token=8fQ2..." does not.
WEAK_WORDS = frozenset({"auth", "sid", "sig"})
WEAK_PARTS = ("token", "session", "sessid", "cookie", "jwt", "bearer", "signature", "토큰",
              "세션", "쿠키")
# A name whose last word is one of these describes a secret rather than holding it
# (password_min_length=8, token_type=Bearer, secret_name=db-creds).
DESCRIPTIVE_LAST = frozenset({
    "length", "len", "min", "max", "policy", "enabled", "disabled", "required", "expiry",
    "expires", "expired", "expiration", "age", "changed", "reset", "count", "attempts", "type",
    "strength", "ttl", "version", "rotation", "file", "path", "hint", "prompt", "field",
    "format", "updated", "name", "names", "dir", "url", "uri", "endpoint", "at", "time",
    "timeout", "seconds", "ms", "size", "used", "usage", "limit", "id", "ids", "status",
    "algorithm", "alg", "method", "scheme", "store", "provider", "manager", "source", "ref",
    "authentication", "authenticated", "mode", "level", "header", "location",
})
_PLACEHOLDERS = frozenset({"", "null", "none", "nil", "true", "false", "yes", "no", "undefined",
                           "redacted", "hidden", "masked", "removed", "secret", "password",
                           "changeme", "n/a", "na", "empty", "unset", "on", "off"})


def name_words(name: str) -> List[str]:
    return [word.lower() for part in _SEPARATORS.split(name) if part
            for word in _CAMEL.split(part) if word]


@lru_cache(maxsize=4096)
def name_strength(name: str) -> Optional[str]:
    """'strong', 'weak' or None for a key name."""
    words = name_words(name)
    if not words:
        return None
    compact = "".join(words)
    if words[-1] in DESCRIPTIVE_LAST and len(words) > 1:
        return None
    if any(word in STRONG_WORDS for word in words) or any(p in compact for p in STRONG_PARTS):
        return "strong"
    if any(word in WEAK_WORDS for word in words) or any(p in compact for p in WEAK_PARTS):
        return "weak"
    return None


_REFERENCES = frozenset({"${", "{{", "%(", "$("})
# n * log2(n) for the counts of a character in a value of at most 64.
_N_LOG_N = [0.0] + [n * math.log2(n) for n in range(1, 65)]


_MASK = "*xX#.-_?"


def is_placeholder(value: str) -> bool:
    """Masks (****, xxxx), earlier redactions, references rather than values (${DB_PASSWORD},
    {{ .token }}, <secret>, %(pw)s) and words that stand for no value (null, changeme)."""
    value = value.strip().strip("'\"`")
    if not value:
        return True
    first = value[0]
    if first in _MASK and not value.strip(_MASK):
        return True
    if first in "$%{<[" and (value[:2] in _REFERENCES or value.startswith("[REDACTED")
                             or (first == "<" and value[-1] == ">")):
        return True
    return len(value) <= 12 and value.lower() in _PLACEHOLDERS


def shannon(value: str) -> float:
    """Bits per character; value has at most 64 characters."""
    spread = sum(map(_N_LOG_N.__getitem__, Counter(value).values()))
    return math.log2(len(value)) - spread / len(value)


_HEX_NUMBER = re.compile(r"0x[0-9a-fA-F]++")
_DATE = re.compile(r"\d{4}-\d\d-\d\d")
_DIGIT_RUNS = re.compile(r"\d++")


def looks_random(value: str, min_length: int = 10) -> bool:
    """A token, not a word or a number: long enough, switching between letters and digits,
    with enough entropy per character."""
    # 64 characters are enough to judge, and bound the work on a long value.
    return _looks_random(value.strip("'\"`")[:64], min_length)


# Hostile text repeats one candidate thousands of times (100 KB of "Bearer x…" glued
# together): each verdict is computed once. Keys are at most 64 characters.
@functools.lru_cache(maxsize=4096)
def _looks_random(value: str, min_length: int) -> bool:
    """Cheap tests first: this runs once per candidate."""
    if len(value) < min_length:
        return False
    # Generated tokens switch between letters and digits often; names (ZooKeeperServer@325,
    # build-2024) and numbers rarely do.
    switches = (2 * len(_DIGIT_RUNS.findall(value)) - value[0].isdigit()
                - value[-1].isdigit())
    if switches < 2 or len(set(value)) < 8:  # 3 bits per character need 8 symbols at least
        return False
    if value[0].isdigit() and (_HEX_NUMBER.fullmatch(value) or _DATE.match(value)):
        return False
    return shannon(value) >= 3.0 and not is_placeholder(value)


def first_group(match: "re.Match[str]", prefix: str) -> Optional[str]:
    for name, value in match.groupdict().items():
        if name.startswith(prefix) and value is not None:
            return value
    return None


def secret_under_key(match: "re.Match[str]") -> bool:
    """A value under a secret-like key name: always when the name is strong, only a random
    looking value when it is weak."""
    value = first_group(match, "secret") or ""
    strength = name_strength(match.group("name"))
    if strength is None or is_placeholder(value):
        return False
    if strength == "weak":
        return looks_random(value)
    # PWD is also the shell's working directory.
    if name_words(match.group("name"))[-1] == "pwd" and value[:1] in ("/", "~"):
        return False
    return True


def random_token(match: "re.Match[str]") -> bool:
    return looks_random(first_group(match, "secret") or match.group(0), 8)


_NOT_DIGITS = {code: None for code in range(128) if not chr(code).isdigit()}
_DOUBLED = str.maketrans("0123456789", "0246813579")  # a digit doubled, its digits summed


def luhn(match: "re.Match[str]") -> bool:
    return _luhn(match.group(0).translate(_NOT_DIGITS))


@lru_cache(maxsize=1024)
def _luhn(digits: str) -> bool:
    if not 13 <= len(digits) <= 19:
        return False
    total = sum(map(int, digits[-1::-2])) + sum(map(int, digits[-2::-2].translate(_DOUBLED)))
    return total % 10 == 0


def email_domain(match: "re.Match[str]") -> bool:
    top = match.group("domain").rsplit(".", 1)[-1]
    return len(top) >= 2 and top.isalpha()


def not_placeholder(match: "re.Match[str]") -> bool:
    return not is_placeholder(first_group(match, "secret") or "")


def url_password(match: "re.Match[str]") -> bool:
    """user:password@ in a URL, not host:port/path@ (http://example.com:8080/users/@me)."""
    secret = match.group("secret")
    port = secret.split("/", 1)[0]
    if port.isdigit() and len(port) <= 5 and "/" in secret:
        return False
    return not is_placeholder(secret)


# The names a rule's `validator` may give.
VALIDATORS: Dict[str, Validator] = {
    "secret_under_key": secret_under_key,
    "random_token": random_token,
    "luhn": luhn,
    "email_domain": email_domain,
    "not_placeholder": not_placeholder,
    "url_password": url_password,
}
