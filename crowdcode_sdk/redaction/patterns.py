"""Secret patterns that detect-secrets 1.5 lacks or catches only partly, each with a category.

detect-secrets knows the classic formats (AWS access key ids, ``ghp_`` tokens, ``sk_live_``,
legacy OpenAI keys with the ``T3BlbkFJ`` marker, the first line of a PEM block); these add the
formats providers issue today (Anthropic, project-scoped OpenAI keys, Google API keys, GitHub
fine-grained tokens, Hugging Face, Slack webhooks, restricted/test Stripe keys), secrets that sit
in assignments without quotes (``export AWS_SECRET_ACCESS_KEY=…``, ``TOKEN=…``), bearer headers,
whole private-key blocks, and any long high-entropy token.

Each pattern's group 1 (or the whole match) is the secret; only that part is masked, so that
``password=`` stays readable as context.
"""

from __future__ import annotations

import math
import re
from collections import Counter

_END = r"(?![A-Za-z0-9_\-])"
_START = r"(?<![A-Za-z0-9_\-])"

PROVIDER_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (category, re.compile(pattern))
    for category, pattern in (
        ("aws", _START + r"((?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16})" + _END),
        (
            "aws",
            r"(?i:aws_?secret_?(?:access_?)?key|secret_?access_?key)[\"']?\s*[:=]+\s*[\"']?"
            r"([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
        ),
        ("github", _START + r"((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255})" + _END),
        ("github", _START + r"(github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})" + _END),
        (
            "gitlab",
            _START + r"((?:glpat|gldt|glrt|glsoat|glffct|glcbt|glimt|glptt|glft|gloas)-[A-Za-z0-9_\-]{20,})" + _END,
        ),
        ("slack", _START + r"(xox[abposre]-[A-Za-z0-9\-]{10,})" + _END),
        ("slack", r"(https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_\-]+)"),
        ("stripe", _START + r"((?:sk|rk|pk|whsec)_(?:live|test)_[A-Za-z0-9]{16,})" + _END),
        ("stripe", _START + r"(whsec_[A-Za-z0-9]{24,})" + _END),
        ("anthropic", _START + r"(sk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_\-]{20,})" + _END),
        ("openai", _START + r"(sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_\-]{20,})" + _END),
        ("openai", _START + r"(sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})" + _END),
        ("openai", _START + r"(sk-[A-Za-z0-9]{48})" + _END),
        ("google", _START + r"(AIza[0-9A-Za-z_\-]{35})" + _END),
        ("google", _START + r"(ya29\.[0-9A-Za-z_\-]{20,})" + _END),
        ("google", _START + r"(GOCSPX-[0-9A-Za-z_\-]{20,})" + _END),
        ("huggingface", _START + r"(hf_[A-Za-z0-9]{30,})" + _END),
        ("npm", _START + r"(npm_[A-Za-z0-9]{36})" + _END),
        ("pypi", _START + r"(pypi-[A-Za-z0-9_\-]{50,})" + _END),
        ("jwt", _START + r"(eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,})" + _END),
        ("url_password", r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@\"'<>]+:([^\s/@\"'<>]+)@"),
        ("bearer", r"(?i:authorization\s*:\s*(?:bearer|token|basic)\s+|bearer\s+)([A-Za-z0-9._~+/\-]{16,}=*)"),
    )
)

PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----(.*?)(?:-----END \1-----|\Z)", re.DOTALL
)
"""A whole PEM/PGP private key: the body is masked, the BEGIN/END lines stay as context."""

_SECRET_NAME = (
    r"(?:[A-Za-z0-9]*[_\-.])*(?:api_?key|apikey|access_?key|secret(?:_?key)?|client_?secret|token|auth|"
    r"credentials?|passwd|password|passphrase|pwd|private_?key|signing_?key|session_?key|dsn)(?:[_\-.][A-Za-z0-9]*)*"
)
ASSIGNMENT = re.compile(
    r"(?i)(?<![A-Za-z0-9])"
    + _SECRET_NAME
    + r"[\"']?\s*(?::=|=>|=|:)\s*(?:\"([^\"\n]{4,})\"|'([^'\n]{4,})'|([^\s\"'`,;#]{6,}))"
)
"""``NAME = value`` where NAME sounds secret: shell exports, .env lines, YAML, code."""

TOKEN = re.compile(r"(?<![A-Za-z0-9+/_\-=])([A-Za-z0-9+/_\-]{32,}={0,2})(?![A-Za-z0-9+/_\-=])")
"""A long unbroken token, checked for entropy: base64 key material, unknown providers' keys."""

_LONG_TOKEN = re.compile(r"[A-Za-z0-9+/=_\-.~]{16}")
_SECRET_WORDS = ("key", "pass", "pwd", "secret", "token", "auth", "credential", "bearer", "contrase", "dsn", "://")


def maybe_secret(line: str) -> bool:
    """A cheap test that a line may hold a secret at all: every detector needs a long token, a
    URL with credentials or a secret-sounding name, and most lines of code and output have none."""
    lowered = line.lower()
    return any(word in lowered for word in _SECRET_WORDS) or _LONG_TOKEN.search(line) is not None


_TEMPLATE = re.compile(r"^\$\{?[A-Za-z_]|^%\(|^\{\{|^<[^>]*>$|^\*+$|^\.\.\.$")
_CODE_LIKE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*[.\[(]|^[A-Za-z_]+$")


def shannon_entropy(text: str) -> float:
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def looks_random(token: str) -> bool:
    """Whether a long token is key material rather than an identifier, path or hash name.

    Base64-ish tokens need mixed character classes and ≥ 4.2 bits/char (detect-secrets uses 4.5
    on quoted strings; unquoted tokens of ≥ 32 characters rarely reach 4.2 by accident); lowercase
    hex needs 40+ characters, so that git object ids of 40 and digests still count (they are cheap
    to lose and impossible to tell from hex secrets).
    """
    if re.fullmatch(r"[0-9a-f]+|[0-9A-F]+", token):
        return len(token) >= 32 and shannon_entropy(token) >= 3.0 and not re.fullmatch(r"[0-9a-f]{40}", token)
    classes = sum(bool(re.search(p, token)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]"))
    if classes < 3 or re.fullmatch(r"[A-Za-z_]+", token):
        return False
    if token.count("_") + token.count("-") > len(token) // 6:  # snake_case or kebab-case words
        return False
    return shannon_entropy(token) >= 4.2


def assignment_value_is_secret(value: str, quoted: bool) -> bool:
    """Reject values of ``NAME = value`` that are placeholders, or (unquoted) code, not secrets.

    ``password = "hunter2"`` and ``PASSWORD=hunter2`` are secrets; ``password = get_password()``,
    ``password = user_password`` and ``password: ${DB_PASSWORD}`` are not.
    """
    stripped = value.strip()
    if not quoted:
        stripped = stripped.rstrip(",;)}]")
    if len(stripped) < 4 or _TEMPLATE.search(stripped) or (not quoted and _CODE_LIKE.search(stripped)):
        return False
    lowered = stripped.lower()
    return lowered not in {"none", "null", "true", "false", "changeme", "password", "secret", "xxxx", "undefined"}
