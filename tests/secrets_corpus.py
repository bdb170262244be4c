"""Secrets of every kind the redactor knows, generated (never real), to embed in log lines."""
from __future__ import annotations

import base64
import json
import random
import string
from typing import List, Tuple


def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _luhn_card(rng: random.Random, prefix: str, length: int) -> str:
    digits = [int(c) for c in prefix] + [rng.randint(0, 9) for _ in range(length - len(prefix) - 1)]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 0:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    digits.append((10 - total % 10) % 10)
    number = "".join(map(str, digits))
    return " ".join(number[i:i + 4] for i in range(0, len(number), 4))


def secrets(count_per_kind: int = 16, seed: int = 7) -> List[Tuple[str, str, str]]:
    """(kind, the secret itself, a log line carrying it)."""
    rng = random.Random(seed)
    up, low, dig = string.ascii_uppercase, string.ascii_lowercase, string.digits
    alnum = up + low + dig
    out = []
    for i in range(count_per_kind):
        aws = "AKIA" + _rand(rng, up + dig, 16)
        aws_secret = _rand(rng, alnum + "/+", 40)
        bearer = _rand(rng, alnum, 32)
        header = base64.urlsafe_b64encode(b'{"alg": "HS256"}').decode().rstrip("=")
        claims = base64.urlsafe_b64encode(json.dumps({"sub": str(i)}).encode()).decode().rstrip("=")
        jwt = f"{header}.{claims}.{_rand(rng, alnum + '_-', 43)}"
        password = _rand(rng, alnum + "!#%", 14)
        api_key = _rand(rng, alnum, 24)
        github = "ghp_" + _rand(rng, alnum, 36)
        slack = "xoxb-" + _rand(rng, dig, 12) + "-" + _rand(rng, alnum, 24)
        stripe = "sk_live_" + _rand(rng, alnum, 24)
        db_password = _rand(rng, alnum, 12)
        email = f"{_rand(rng, low, 8)}.{_rand(rng, low, 5)}@{_rand(rng, low, 6)}.com"
        card = _luhn_card(rng, "4", 16)
        key_body = _rand(rng, alnum + "+/", 64)
        out += [
            ("aws_access_key", aws, f"ERROR S3 PutObject denied for key {aws} in us-east-1"),
            ("aws_secret", aws_secret, f"WARN boto config aws_secret_access_key={aws_secret}"),
            ("bearer", bearer, f"ERROR upstream 401 with header Authorization: Bearer {bearer}"),
            ("jwt", jwt, f"ERROR token rejected: {jwt} (expired)"),
            ("password", password, f"ERROR login failed user=admin password={password}"),
            ("api_key", api_key, f'ERROR request body {{"api_key": "{api_key}", "n": {i}}}'),
            ("github", github, f"ERROR git clone failed using {github}"),
            ("slack", slack, f"ERROR slack post failed token {slack}"),
            ("stripe", stripe, f"ERROR charge failed with key {stripe}"),
            ("connection_string", db_password,
             f"FATAL cannot connect postgresql://app:{db_password}@db.internal:5432/orders"),
            ("email", email, f"WARN bounce for {email} after 3 attempts"),
            ("card", card, f"ERROR payment declined card {card}"),
            ("private_key", key_body,
             f"ERROR bad key -----BEGIN PRIVATE KEY-----\n{key_body}\n-----END PRIVATE KEY-----"),
        ]
    return out
