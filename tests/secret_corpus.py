"""A corpus of realistic FAKE secrets, generated (seeded) in each provider's real format.

Each sample is (category, secret, line): ``line`` is how the secret typically appears in a file,
a shell or a config (assignment, header, URL, export). Used by tests/test_secret_corpus.py and
scripts/redaction-recall (which prints the recall table in docs/privacy.md). None of these are
real credentials: they are random strings in the published formats.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable

ALNUM = string.ascii_letters + string.digits
UPPER = string.ascii_uppercase + string.digits
B64 = string.ascii_letters + string.digits + "+/"


def _r(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(rng: random.Random) -> str:
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps({"sub": str(rng.randrange(10**9)), "name": "Jane Doe", "iat": 1700000000}).encode())
    return f"{header}.{payload}.{_b64url(rng.randbytes(32))}"


def _pem(rng: random.Random, kind: str) -> str:
    body = base64.b64encode(rng.randbytes(600)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----"


Generator = Callable[[random.Random], tuple[str, str]]
"""rng -> (secret, the line or block it appears in)."""

GENERATORS: dict[str, list[Generator]] = {
    "aws": [
        lambda r: (s := "AKIA" + _r(r, UPPER, 16), f"aws_access_key_id = {s}"),
        lambda r: (s := _r(r, B64, 40), f"export AWS_SECRET_ACCESS_KEY={s}"),
        lambda r: (s := "ASIA" + _r(r, UPPER, 16), f'"AccessKeyId": "{s}",'),
    ],
    "github": [
        lambda r: (s := "ghp_" + _r(r, ALNUM, 36), f"git remote set-url origin https://{s}@github.com/org/repo"),
        lambda r: (s := "github_pat_" + _r(r, ALNUM, 22) + "_" + _r(r, ALNUM, 59), f"GITHUB_TOKEN={s}"),
        lambda r: (s := "gho_" + _r(r, ALNUM, 36), f'token: "{s}"'),
    ],
    "gitlab": [
        lambda r: (s := "glpat-" + _r(r, ALNUM + "_-", 20), f"export GITLAB_TOKEN={s}"),
        lambda r: (
            s := "glpat-" + _r(r, ALNUM, 20),
            f'curl --header "PRIVATE-TOKEN: {s}" https://gitlab.com/api/v4/projects',
        ),
    ],
    "slack": [
        lambda r: (
            s := f"xoxb-{r.randrange(10**11, 10**12)}-{r.randrange(10**12, 10**13)}-{_r(r, ALNUM, 24)}",
            f'SLACK_BOT_TOKEN="{s}"',
        ),
        lambda r: (
            s := f"https://hooks.slack.com/services/T{_r(r, UPPER, 8)}/B{_r(r, UPPER, 8)}/{_r(r, ALNUM, 24)}",
            f"webhook_url: {s}",
        ),
    ],
    "stripe": [
        lambda r: (s := "sk_live_" + _r(r, ALNUM, 24), f'stripe.api_key = "{s}"'),
        lambda r: (s := "rk_live_" + _r(r, ALNUM, 99), f"STRIPE_KEY={s}"),
        lambda r: (s := "sk_test_" + _r(r, ALNUM, 24), f"const stripe = require('stripe')('{s}');"),
    ],
    "openai": [
        lambda r: (s := "sk-proj-" + _r(r, ALNUM + "_-", 156), f"OPENAI_API_KEY={s}"),
        lambda r: (s := "sk-" + _r(r, ALNUM, 20) + "T3BlbkFJ" + _r(r, ALNUM, 20), f'openai.api_key = "{s}"'),
    ],
    "anthropic": [
        lambda r: (s := "sk-ant-api03-" + _r(r, ALNUM + "_-", 93) + "AA", f"export ANTHROPIC_API_KEY={s}"),
        lambda r: (s := "sk-ant-api03-" + _r(r, ALNUM + "_-", 93) + "AA", f'client = Anthropic(api_key="{s}")'),
    ],
    "google": [
        lambda r: (s := "AIza" + _r(r, ALNUM + "_-", 35), f'"apiKey": "{s}",'),
        lambda r: (s := "ya29." + _r(r, ALNUM + "_-", 120), f"Authorization: Bearer {s}"),
    ],
    "jwt": [
        lambda r: (s := _jwt(r), f"Authorization: Bearer {s}"),
        lambda r: (s := _jwt(r), f"const token = '{s}';"),
    ],
    "private_key": [
        lambda r: (p := _pem(r, "RSA PRIVATE KEY"), p),
        lambda r: (p := _pem(r, "OPENSSH PRIVATE KEY"), p),
        lambda r: (p := _pem(r, "PRIVATE KEY"), p),
    ],
    "url_password": [
        lambda r: (s := _r(r, ALNUM, 14), f"DATABASE_URL=postgres://app:{s}@db.internal:5432/prod"),
        lambda r: (s := _r(r, ALNUM, 10) + "!", f"git clone https://jdoe:{s}@git.example.com/team/repo.git"),
        lambda r: (s := _r(r, string.ascii_lowercase, 6) + str(r.randrange(100)), f"redis://default:{s}@cache:6379/0"),
    ],
    "password_assignment": [
        lambda r: (s := _r(r, string.ascii_lowercase, 7) + str(r.randrange(10, 99)), f'password = "{s}"'),
        lambda r: (s := _r(r, ALNUM, 12) + "#", f"DB_PASSWORD={s}"),
        lambda r: (s := _r(r, string.ascii_lowercase, 8) + "!" + str(r.randrange(10)), f"  password: '{s}'"),
    ],
    "high_entropy": [
        lambda r: (s := _r(r, ALNUM, 40), f"API_TOKEN={s}"),
        lambda r: (s := _r(r, "0123456789abcdef", 64), f'secret_key = "{s}"'),
        lambda r: (s := base64.b64encode(r.randbytes(32)).decode(), f"SIGNING_KEY: {s}"),
    ],
}

SAMPLES_PER_GENERATOR = 4


def corpus(seed: int = 7) -> list[tuple[str, str, str]]:
    """[(category, secret, line)], deterministic."""
    rng = random.Random(seed)
    out = []
    for category, generators in GENERATORS.items():
        for generate in generators:
            for _ in range(SAMPLES_PER_GENERATOR):
                secret, line = generate(rng)
                out.append((category, secret, line))
    return out


def fragments(category: str, secret: str) -> list[str]:
    """What must not appear in any bundle for this sample to count as redacted.

    The whole value; for key blocks every body line (a PEM body is secret line by line).
    """
    if category == "private_key":
        return [line for line in secret.splitlines() if line and not line.startswith("-----")]
    return [secret]


BENIGN = """\
import os
import hashlib
from pathlib import Path

def load_config(path: Path) -> dict:
    password = os.environ.get("DB_PASSWORD")
    token = get_token(user)
    api_key = settings.API_KEY
    digest = hashlib.sha256(data).hexdigest()
    return {"password": password, "token": token}

class UserRepository:
    def find_by_email_address(self, email_address: str) -> "User | None":
        return self.session.query(User).filter_by(email_address=email_address).first()

# commit 9fceb02d0ae598e95dc970b74767f19372d61af8 fixed the cache invalidation
SELECT id, created_at, updated_at FROM accounts WHERE account_id = $1;
const handleSubmitButtonClick = useCallback(async (event) => { await submitForm(event); }, []);
docker run --rm -it -v "$PWD":/src -w /src python:3.12-slim python -m pytest -q
https://docs.python.org/3/library/hashlib.html#hashlib.sha256
integrity sha512-OiWl3PvtmZKEKmtZCgrQjIH4EmUNsvXa3BqGhCCF9yn/3HDFOwbMB3XE8ORtmtP6JxYeGJNmRxcQ==
uuid = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
"""
"""Ordinary code and shell lines, to measure how much the redactor masks that is not secret."""
