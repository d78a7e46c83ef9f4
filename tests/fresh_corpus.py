"""A corpus of FAKE secrets and of near-misses, with new random values on every run.

tests/secret_corpus.py is seeded (the unit tests and docs/privacy.md's table need stable
samples); this one is not, so that a detector tuned to last run's values cannot pass: every
secret and every near-miss is drawn again, and the seed is printed by the tests that use it.

Secrets: every format of tests/secret_corpus.py plus curl ``-u``/``--user``, ``.netrc``
passwords, ``PGPASSWORD`` with a lowercase passphrase, passwords and tokens given as a program's
option (``mysql -p…``, ``sshpass -p``, ``docker login -p``, ``openssl -pass pass:``, ``lftp -u user,pass``,
``az login -p``, ``smbclient //server/share <password>``, ``--token`` with a plain word …),
``.pgpass`` lines, Azure ``SharedAccessKey=``, Kubernetes ``api-key: <base64>``. Near-misses: strings that look like secrets and are not — npm/yarn
integrity hashes, base64 test vectors of sentences, git object ids, OCI digests, UUIDs, long
identifiers, placeholders, secret-sounding prose.
"""

from __future__ import annotations

import base64
import os
import random
import string
import uuid
from collections.abc import Callable

from tests.secret_corpus import ALNUM, GENERATORS, _r

LOWER = string.ascii_lowercase
WORDS = [
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "river",
    "stone",
    "cloud",
    "apple",
    "garden",
    "window",
    "paper",
    "music",
    "silver",
    "yellow",
    "orange",
    "planet",
    "forest",
    "winter",
    "summer",
    "morning",
    "coffee",
    "bridge",
    "little",
    "letter",
]

Generator = Callable[[random.Random], tuple[str, str]]


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


NEW_FORMATS: dict[str, list[Generator]] = {
    "curl_user": [
        lambda r: (s := _r(r, ALNUM, 12), f"curl -u admin:{s} https://api.example.com/v1/items"),
        lambda r: (s := _r(r, LOWER, 9) + str(r.randrange(100)), f"curl --user deploy:{s} -X POST https://ci.local"),
        lambda r: (s := _r(r, ALNUM, 14), f"curl -s --user=ops:{s} https://metrics.internal/"),
    ],
    "netrc": [
        lambda r: (s := _r(r, ALNUM, 16), f"machine api.example.com login jdoe password {s}"),
        lambda r: (s := _r(r, LOWER, 10) + str(r.randrange(10, 99)), f"  password {s}"),
    ],
    "password_env": [
        lambda r: (s := _words(r, 4).replace(" ", ""), f"PGPASSWORD={s} psql -h db.internal -U app"),
        lambda r: (s := _words(r, 4), f"PGPASSWORD='{s}' pg_dump prod > dump.sql"),
    ],
    "option_password": [
        lambda r: (s := _r(r, ALNUM, 12), f"mysql -u root -p{s} -h db.internal shop"),
        lambda r: (s := _r(r, LOWER, 8) + str(r.randrange(100, 999)), f"mysqldump -u backup --password={s} shop"),
        lambda r: (s := _r(r, ALNUM, 10) + r.choice("@%+_.") + _r(r, ALNUM, 3), f"sshpass -p {s} ssh deploy@10.0.0.5"),
        lambda r: (s := _r(r, ALNUM, 16), f"docker login -u ci -p {s} registry.example.com"),
        lambda r: (s := _r(r, ALNUM, 14), f"docker login --username ci --password {s} ghcr.io"),
        lambda r: (s := _r(r, ALNUM, 12), f"htpasswd -b -c .htpasswd admin {s}"),
        lambda r: (s := _r(r, ALNUM, 12), f"openssl enc -aes-256-cbc -pbkdf2 -in backup.tar -pass pass:{s}"),
        lambda r: (s := _r(r, ALNUM, 12), f"openssl pkcs12 -export -in cert.pem -passout pass:{s}"),
        lambda r: (s := _r(r, ALNUM, 12), f"smbclient //files/share -U alice%{s} -c ls"),
        lambda r: (s := _r(r, ALNUM, 20), f"redis-cli -h cache.internal -a {s} ping"),
        lambda r: (s := _r(r, ALNUM, 12), f"mongosh -u admin -p {s} --authenticationDatabase admin"),
        lambda r: (s := _r(r, ALNUM, 12), f"wget --user=bob --password={s} https://files.example.com/a.tgz"),
        lambda r: (s := _r(r, ALNUM, 24), f"kubectl --token {s} get pods"),
        lambda r: (s := _r(r, ALNUM, 12), f"keytool -genkeypair -alias app -keystore app.jks -storepass {s}"),
        lambda r: (s := _r(r, ALNUM, 12), f"ldapsearch -x -D cn=admin,dc=example -w {s} -b dc=example"),
        lambda r: (s := _r(r, ALNUM, 12), f"zip -r -P {s} backup.zip src"),
        lambda r: (s := _r(r, ALNUM, 12), f"7z a -p{s} backup.7z src"),
        lambda r: (s := _r(r, ALNUM, 12), f"sqlcmd -S db.internal -U sa -P {s} -Q 'select 1'"),
        lambda r: (s := _r(r, ALNUM, 12), f"xfreerdp /v:10.0.0.5 /u:admin /p:{s}"),
        lambda r: (s := _r(r, ALNUM, 16), f"gpg --batch --passphrase {s} --symmetric notes.txt"),
        lambda r: (s := _r(r, ALNUM, 12), f"lftp -u deploy,{s} ftp.example.com"),
        lambda r: (s := _r(r, ALNUM, 16), f"az login --service-principal -u ci-app -p {s} --tenant t1"),
        lambda r: (s := _r(r, ALNUM, 12), f"smbclient //files/share {s} -U alice -c ls"),
        lambda r: (s := _r(r, ALNUM, 12), f"sshpass -P assword -p {s} ssh deploy@10.0.0.5"),
        lambda r: (s := _r(r, LOWER, r.randrange(6, 13)), f"kubectl --token {s} get pods"),
        lambda r: (
            s := _r(r, LOWER, r.randrange(6, 13)),
            f"wget --user=bob --password {s} https://files.example.com/a.tgz",
        ),
    ],
    "pgpass": [
        lambda r: (s := _r(r, ALNUM, 12), f'echo "db.internal:5432:app:app:{s}" >> ~/.pgpass'),
        lambda r: (s := _r(r, ALNUM, 12), f"*:5432:*:postgres:{s}"),
        lambda r: (
            s := _r(r, ALNUM, 12),
            f"echo 'db{r.randrange(1, 9)}.internal:{r.randrange(5500, 65536)}:*:app:{s}' >> ~/.pgpass",
        ),
    ],
    "azure": [
        lambda r: (
            s := base64.b64encode(r.randbytes(32)).decode(),
            "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
            f"SharedAccessKey={s}",
        ),
    ],
    "kubernetes": [
        lambda r: (s := base64.b64encode(_r(r, ALNUM, 18).encode()).decode(), f"  api-key: {s}"),
    ],
    "shell_variable": [
        # a digit in each bare value, as in the assignments above: random letters alone can read as
        # a name made of words (AtdjTlvRRZUQdi), which the assignment rule leaves alone
        lambda r: (s := _r(r, ALNUM, 13) + str(r.randrange(10)), f"set -gx DB_PASSWORD {s}"),
        lambda r: (s := _r(r, LOWER, 8) + str(r.randrange(10, 99)), f"set -Ux {r.choice(WORDS).upper()}_API_KEY {s}"),
        lambda r: (s := _words(r, 3), f"set -x SMTP_PASSWORD '{s}'"),
        lambda r: (s := _r(r, ALNUM, 15) + str(r.randrange(10)), f"setenv REGISTRY_TOKEN {s}"),
    ],
    "url_without_user": [
        lambda r: (s := _r(r, ALNUM, 16), f"export REDIS_URL=redis://:{s}@cache.internal:6379/0"),
    ],
}

PROGRAMS = (
    "mysql",
    "mysqldump",
    "sshpass",
    "docker",
    "htpasswd",
    "openssl",
    "smbclient",
    "redis-cli",
    "mongosh",
    "wget",
    "kubectl",
    "keytool",
    "ldapsearch",
    "zip",
    "7z",
    "sqlcmd",
    "xfreerdp",
    "gpg",
    "lftp",
    "az",
)
"""The programs the option formats' lines call: a shell test defines each as a function that does
nothing, so that a line is typed and recorded as the real command and nothing runs."""


NEAR_MISSES: list[Callable[[random.Random], str]] = [
    lambda r: f'      "integrity": "sha512-{base64.b64encode(r.randbytes(64)).decode()}",',
    lambda r: f"  integrity sha512-{base64.b64encode(r.randbytes(64)).decode()}",
    lambda r: f'  "integrity": "sha1-{base64.b64encode(r.randbytes(20)).decode()}"',
    lambda r: f'assert b64encode(b"{_words(r, 7)}") == "{base64.b64encode(_words(r, 7).encode()).decode()}"',
    lambda r: f"echo {base64.b64encode(_words(r, 9).capitalize().encode()).decode()} | base64 -d",
    lambda r: f"commit {r.randbytes(20).hex()}",
    lambda r: f"git cherry-pick {r.randbytes(20).hex()}",
    lambda r: f"git show {r.randbytes(20).hex()[: r.randrange(7, 13)]} --stat",
    lambda r: f"FROM python:3.12-slim@sha256:{r.randbytes(32).hex()}",
    lambda r: f'id = "{uuid.UUID(bytes=r.randbytes(16))}"',
    lambda r: "def " + "_".join(r.choice(WORDS) for _ in range(6)) + "(self) -> None:",
    lambda r: "const " + "".join(w.capitalize() for w in (r.choice(WORDS) for _ in range(6))) + "Handler = 1;",
    lambda r: "/usr/share/" + "/".join(r.choice(WORDS) for _ in range(5)) + ".conf",
    lambda r: f'password = os.environ["{r.choice(WORDS).upper()}_PASSWORD"]',
    lambda r: f"token: ${{{r.choice(WORDS).upper()}_TOKEN}}",
    lambda r: f'curl -u "$USER:${r.choice(WORDS).upper()}_TOKEN" https://example.com',
    lambda r: f"sort -u {r.choice(WORDS)}.txt | uniq -c",
    lambda r: f"The password must be at least {r.randrange(8, 20)} characters long and contain a {r.choice(WORDS)}",
    lambda r: f"https://{r.choice(WORDS)}@github.com/{r.choice(WORDS)}/{r.choice(WORDS)}.git",
    lambda r: f'version = "{r.randrange(10)}.{r.randrange(50)}.{r.randrange(200)}"',
    lambda r: f"color: #{r.randbytes(3).hex()}; background: #{r.randbytes(3).hex()};",
    lambda r: f"AWS_ACCESS_KEY_ID=AKIA{'*' * 16}",
    lambda r: f"api_key = get_api_key({r.choice(WORDS)}_config)",
    lambda r: f"Reset your password at https://example.com/{r.choice(WORDS)}/reset",
    lambda r: f"ssh -p {r.randrange(1, 65536)} deploy@{r.choice(WORDS)}.internal",
    lambda r: f"docker run -p {r.randrange(1024, 65536)}:80 -v {r.choice(WORDS)}:/data nginx",
    lambda r: f"mkdir -p {r.choice(WORDS)}/{r.choice(WORDS)} && cp -p {r.choice(WORDS)}.txt {r.choice(WORDS)}/",
    lambda r: f"docker login -u {r.choice(WORDS)} --password-stdin < {r.choice(WORDS)}.txt",
    lambda r: f"mysql -u root -p {r.choice(WORDS)}_{r.choice(WORDS)}",
    lambda r: f"vault login --token-file /run/secrets/{r.choice(WORDS)}",
    lambda r: f"  --token {r.choice(('TOKEN', 'API_TOKEN'))}   the {r.choice(WORDS)} token to log in with",
    lambda r: f"      --password string   {r.choice(WORDS).capitalize()} password for basic authentication",
    lambda r: f"mysql -u root --password {r.choice(WORDS)} -e 'show tables'",
    lambda r: f"smbclient //{r.choice(WORDS)}/{r.choice(WORDS)} -U {r.choice(WORDS)} -c ls",
    lambda r: f"redis-cli -h {r.choice(WORDS)} -p {r.randrange(1024, 65536)} ping",
    lambda r: f"grep -P '{r.choice(WORDS)}\\d+' {r.choice(WORDS)}.log | sort -u",
    lambda r: f"set -e {r.choice(WORDS).upper()}_PASSWORD; set -q {r.choice(WORDS).upper()}_TOKEN",
    lambda r: f"set -gx {r.choice(WORDS).upper()}_TOKEN ${r.choice(WORDS).upper()}_TOKEN",
    lambda r: (
        f"pip install {r.choice(WORDS)}=={r.randrange(5)}.{r.randrange(20)}.{r.randrange(9)} --hash=sha256:"
        + r.randbytes(32).hex()
    ),
]
NEAR_MISS_COPIES = 5
"""Each near-miss shape is drawn this many times (≥ 100 near-misses in all)."""


def secrets(rng: random.Random) -> list[tuple[str, str, str]]:
    """[(category, secret, line)] with values drawn from ``rng``: one sample of every generator
    of both corpora."""
    out = []
    for generators in (GENERATORS, NEW_FORMATS):
        for category, made in generators.items():
            for generate in made:
                secret, line = generate(rng)
                out.append((category, secret, line))
    return out


def near_misses(rng: random.Random) -> list[str]:
    return [shape(rng) for shape in NEAR_MISSES for _ in range(NEAR_MISS_COPIES)]


SEED_VARIABLE = "CROWDCODE_TEST_SEED"
"""Set to a seed a failure reported (``CROWDCODE_TEST_SEED=3087372914 pytest …``) to draw the
same corpus again."""


def fresh_rng() -> tuple[int, random.Random]:
    """A new seed per run unless :data:`SEED_VARIABLE` names one (reported by the caller, so
    that a failure can be replayed)."""
    chosen = os.environ.get(SEED_VARIABLE)
    seed = int(chosen) if chosen else random.SystemRandom().randrange(1 << 32)
    return seed, random.Random(seed)
