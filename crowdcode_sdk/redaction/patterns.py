"""The detector's one list of secret formats, each with a category and where it comes from.

detect-secrets 1.5's provider plugins (:data:`PLUGINS`) and :data:`RULES`, the formats they lack
or catch only partly, most of them taken from gitleaks' maintained rule set.

detect-secrets knows the classic formats (AWS access key ids, ``ghp_`` tokens, ``sk_live_``,
legacy OpenAI keys with the ``T3BlbkFJ`` marker, the first line of a PEM block); these add the
formats providers issue today (Anthropic, project-scoped OpenAI keys, Google API keys, GitHub
fine-grained tokens, Hugging Face, Slack webhooks, restricted/test Stripe keys), secrets that sit
in assignments without quotes (``export AWS_SECRET_ACCESS_KEY=…``, ``TOKEN=…``), passwords given
as a program's option on a command line (``mysql -p…``, ``sshpass -p``, ``--token``), bearer headers,
whole private-key blocks, and any long high-entropy token.

Each pattern's group 1 (or the whole match) is the secret; only that part is masked, so that
``password=`` stays readable as context.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import re._constants as sre_constants  # type: ignore[import-not-found]  # the parser's own names
import re._parser as sre_parse  # type: ignore[import-not-found]  # (no stubs; sre_parse is its deprecated alias)
from collections import Counter
from dataclasses import dataclass
from typing import Any

from detect_secrets.plugins.artifactory import ArtifactoryDetector
from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.base import BasePlugin
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.npm import NpmDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector

_END = r"(?![A-Za-z0-9_\-])"
_START = r"(?<![A-Za-z0-9_\-])"


@dataclass(frozen=True, slots=True)
class Rule:
    """One provider format: the category it is counted under, where the format comes from (so
    that it can be checked against its maintained upstream), and the regex (group 1 = secret)."""

    category: str
    source: str
    regex: re.Pattern[str]
    condition: str | None = None
    """An RE2 pattern every match contains, for the detector's one look at a text, where the
    regex's :func:`needles` are a word that output holds often (a program's name: ``mysql-1 |``
    prefixes every line a ``docker compose`` service logs); None: the needles."""
    assigned: bool = False
    """The value (group 1 double-quoted, 2 single-quoted, 3 bare) is judged as an assignment's
    (:func:`assignment_value_is_secret`): a variable, code or a placeholder is no secret."""


def _rule(category: str, source: str, pattern: str, condition: str | None = None, assigned: bool = False) -> Rule:
    return Rule(category, source, re.compile(pattern), condition, assigned)


def _then(*parts: str) -> str:
    """An RE2 condition: ``parts`` in order within one command of a line (nothing between them is
    a ``|``, ``;`` or ``&``, as :data:`_ARGUMENTS` says of the arguments before an option)."""
    return "[^|;&]*".join(parts)


_COMMAND = r"(?<![A-Za-z0-9_.\-])"
"""Where a program's name starts (after a space, a path's ``/``, a quote)."""
_ARGUMENTS = r"(?:\s+[^\s|;&]+){0,16}?"
"""The program's other arguments before the option, within one command of the line; at most 16,
so that a line repeating a program's name is not read from each of them to its end."""
_BARE_VALUE = r"[^\s\"'`;|&<>()]"
"""A character of an unquoted shell word."""
_GIVEN = rf"(?:\"(?![$<])([^\"\n]+)\"|'(?![$<])([^'\n]+)'|(?![\-$<])({_BARE_VALUE}+))"
"""The value of an option a program documents as its password: anything but a flag, a shell
variable or a ``<placeholder>`` (``mysql -p`` alone prompts; ``-p"$PW"`` is the shell's)."""
PLACEHOLDER_WORDS = ("none", "null", "true", "false", "changeme", "password", "secret", "xxxx", "undefined")
"""Values that stand for a secret in examples and templates, in any case: an assignment's
(:func:`assignment_value_is_secret`) or a long option's."""
_PLACEHOLDER = rf"(?i:{'|'.join(PLACEHOLDER_WORDS)})(?!{_BARE_VALUE})"
_METAVARIABLE = (
    r"(?:[A-Z0-9]+[_\-])*(?:TOKEN|PASSWORD|PASSWD|PASS|PASSPHRASE|PWD?|SECRET|KEY|APIKEY|BEARER|CREDENTIALS?"
    rf"|TEXT|STRING|STR|VALUE)(?:[_\-][A-Z0-9]+)*[\]}}]*(?:\.\.\.)?(?!{_BARE_VALUE})"
)
"""What a help text or a usage line puts after a long option for its value (argparse's ``--api-key
API_KEY``, click's ``TEXT``, ``[--token TOKEN]``): upper case, naming a secret or a type."""
_PLAIN_WORD = r"[A-Za-z][a-z]{3,14}"
"""One word of letters, a capital at most first (as :data:`WORD_VALUE` of assignments, from 4)."""
_SECRET_OPTION = (
    r"(?<![A-Za-z0-9_\-])--(?:password|http-password|ftp-password|proxy-password|passwd|oauth2-bearer|token"
    r"|auth-token|access-token|api-token|api-key|apikey|secret|client-secret|secret-key|passphrase)"
)
"""A long option whose name says that its value is a secret (``--password-stdin``, ``--token-file``
are other options)."""
_OPTION_VALUE = (
    rf"(?:\"(?![$<])([^\"\n]{{4,}})\"|'(?![$<])([^'\n]{{4,}})'"
    rf"|(?![\-$<~/.*]|[0-9]+(?!{_BARE_VALUE})|{_METAVARIABLE}|{_PLACEHOLDER}|[a-z]+=|{_BARE_VALUE}*,[a-z]+=)"
    rf"({_BARE_VALUE}{{4,}}))"
)
"""The value of a long option named like a secret, in many programs: not a flag, a variable, a
placeholder, a path, a number, a help text's metavariable or a list of settings that names a
secret (``docker build --secret id=npmrc,src=.npmrc``, ``podman run --secret name,type=env``)."""
_WORD_NAMES_NO_SECRET = (
    rf"(?:[^\s|;&]*/)?(?:(?:mysql[a-z]*|mariadb(?:-[a-z]+)?)(?![^\s|;&])(?={_ARGUMENTS}\s+--password\s)"
    rf"|(?:docker|podman|nerdctl|buildah)(?![^\s|;&])(?={_ARGUMENTS}\s+--secret\s))"
)
"""A command's word naming a program after which, in the same command, a plain word is no secret: a
MySQL or MariaDB client's ``--password`` takes a value only after ``=`` (with a space, the next word
is the database); docker's and podman's ``--secret`` names a secret they keep (``run --secret
dbpass``). The option is looked for among the next 16 words, as a command's words are read."""
_WORD_GIVEN = rf"{_SECRET_OPTION}\s+(?!{_PLACEHOLDER})({_PLAIN_WORD})(?!{_BARE_VALUE})"
"""A long option named like a secret, then one plain word (group 1) that is no placeholder."""
_PGPASS_FIELDS = (
    r"(?<![A-Za-z0-9_.:\-])(?:[A-Za-z0-9_.\-]+|\*|\[[0-9A-Fa-f:.]+\]):{port}:(?:[^\s:\\]|\\.)+:(?:[^\s:\\]|\\.)+:"
    r"(?![/$<])((?:[^\s:\\\"']|\\.)+)"
)
"""A line of a PostgreSQL password file: host, port, database and user (``*`` for any; ``:`` and
``\\`` escaped with ``\\``), then the password (not a path, as in ``/etc/passwd``'s fields)."""

SECRET_WORD = (
    r"(?:api[_\-]?key|apikey|access_?key|secret(?:_?key)?|client_?secret|token|auth|"
    r"credentials?|passwd|password|passphrase|pwd|private_?key|signing_?key|session_?key|dsn)"
)
"""A word that makes a name a secret's: ``DB_PASSWORD``, ``api-key``, ``SLACK_TOKEN``."""
_NAME_END = r"(?:[_\-.][A-Za-z0-9]*)*"
_SECRET_NAME = rf"(?:[A-Za-z0-9]*[_\-.])*(?i:{SECRET_WORD}){_NAME_END}"
"""A name with a secret's word in it (:data:`ASSIGNMENT`'s)."""
_SET_VARIABLE = (
    r"(?<![A-Za-z0-9_.\-])(?:set(?:\s+-(?![A-Za-z]*[eqnSL])[A-Za-z]+|\s+--(?:global|universal|export|local|function"
    rf"|path|unpath|append|prepend|unexport))*|setenv)\s+{_SECRET_NAME}\s+"
    rf"(?:\"([^\"\n]{{4,}})\"|'([^'\n]{{4,}})'|({_BARE_VALUE}{{6,}}))"
)
"""fish's ``set [-gxU…] NAME VALUE`` (and csh's ``setenv NAME VALUE``): an assignment without
``=`` (values as :data:`ASSIGNMENT` takes them). Not ``set -e``/``-q``/``-n``/``-S`` (erase, query, names, show), which take names only."""

GITLEAKS = "gitleaks 8 rules (config/gitleaks.toml)"
RULES: tuple[Rule, ...] = (
    _rule(
        "aws",
        f"{GITLEAKS}: aws-access-token",
        _START + r"((?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16})" + _END,
    ),
    _rule(
        "aws",
        "AWS CLI config and environment names (aws_secret_access_key, AWS_SECRET_ACCESS_KEY)",
        r"(?i:aws_?secret_?(?:access_?)?key|secret_?access_?key)[\"']?\s*[:=]+\s*[\"']?"
        r"([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
    ),
    _rule(
        "github",
        f"{GITLEAKS}: github-pat, github-oauth, github-app-token",
        _START + r"((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255})" + _END,
    ),
    _rule(
        "github",
        f"{GITLEAKS}: github-fine-grained-pat",
        _START + r"(github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})" + _END,
    ),
    _rule(
        "gitlab",
        f"{GITLEAKS}: gitlab-pat, gitlab-*-token (prefixes from GitLab's token overview docs)",
        _START + r"((?:glpat|gldt|glrt|glsoat|glffct|glcbt|glimt|glptt|glft|gloas)-[A-Za-z0-9_\-]{20,})" + _END,
    ),
    _rule(
        "slack",
        f"{GITLEAKS}: slack-bot-token, slack-user-token, slack-app-token",
        _START + r"(xox[abposre]-[A-Za-z0-9\-]{10,})" + _END,
    ),
    _rule(
        "slack",
        f"{GITLEAKS}: slack-webhook-url",
        r"(https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_\-]+)",
    ),
    _rule(
        "stripe",
        f"{GITLEAKS}: stripe-access-token",
        _START + r"((?:sk|rk|pk|whsec)_(?:live|test)_[A-Za-z0-9]{16,})" + _END,
    ),
    _rule("stripe", "Stripe docs: webhook signing secrets (whsec_)", _START + r"(whsec_[A-Za-z0-9]{24,})" + _END),
    _rule(
        "anthropic",
        f"{GITLEAKS}: anthropic-api-key, anthropic-admin-api-key",
        _START + r"(sk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_\-]{20,})" + _END,
    ),
    _rule(
        "openai",
        f"{GITLEAKS}: openai-api-key (project, service-account, admin keys)",
        _START + r"(sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_\-]{20,})" + _END,
    ),
    _rule(
        "openai",
        f"{GITLEAKS}: openai-api-key (legacy, T3BlbkFJ marker)",
        _START + r"(sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})" + _END,
    ),
    _rule("openai", "OpenAI legacy user keys (sk- + 48)", _START + r"(sk-[A-Za-z0-9]{48})" + _END),
    _rule("google", f"{GITLEAKS}: gcp-api-key", _START + r"(AIza[0-9A-Za-z_\-]{35})" + _END),
    _rule("google", "Google OAuth 2.0 access tokens (ya29.)", _START + r"(ya29\.[0-9A-Za-z_\-]{20,})" + _END),
    _rule("google", "Google OAuth client secrets (GOCSPX-)", _START + r"(GOCSPX-[0-9A-Za-z_\-]{20,})" + _END),
    _rule("huggingface", f"{GITLEAKS}: huggingface-access-token", _START + r"(hf_[A-Za-z0-9]{30,})" + _END),
    _rule("npm", f"{GITLEAKS}: npm-access-token", _START + r"(npm_[A-Za-z0-9]{36})" + _END),
    _rule("pypi", f"{GITLEAKS}: pypi-upload-token", _START + r"(pypi-[A-Za-z0-9_\-]{50,})" + _END),
    _rule(
        "jwt", f"{GITLEAKS}: jwt", _START + r"(eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,})" + _END
    ),
    _rule(
        "url_password",
        "RFC 3986 userinfo (scheme://user:password@host)",
        r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@\"'<>]*:([^\s/@\"'<>]+)@",
    ),
    _rule(
        "password_assignment",
        "fish set(1) (set -gx NAME VALUE), csh/tcsh setenv NAME VALUE",
        _SET_VARIABLE,
        condition=_then("set", rf"(?i:{SECRET_WORD})"),
        assigned=True,
    ),
    _rule(
        "bearer",
        "RFC 6750 / RFC 7617 Authorization headers",
        r"(?i:authorization\s*:\s*(?:bearer|token|basic)\s+|bearer\s+)([A-Za-z0-9._~+/\-]{16,}=*)",
    ),
    _rule(
        "curl_user",
        f"{GITLEAKS}: curl-auth-user (curl -u/--user user:password); curl(1) -U/--proxy-user user:password"
        " (not a uid:gid, docker run -u 1000:1000)",
        r"(?<![A-Za-z0-9_\-])(?:-[uU]\s*|(?:--user|--proxy-user)(?:\s+|=))[\"']?(?![0-9]+:[0-9]+(?![^\s\"']))"
        r"[^\s:\"']*:(?![$%{])([^\s\"']+)",
    ),
    _rule(
        "netrc",
        "netrc(5): machine … login … password …, a password token on its own line (in a unified diff too)",
        r"(?i)\b(?:login|machine)\s+\S+\s+password\s+(\S{3,})|^[+\- ]?\s*password\s+(\S{3,})\s*$",
    ),
    _rule(
        "password_env",
        "libpq PGPASSWORD, MySQL MYSQL_PWD, Redis REDISCLI_AUTH, sshpass SSHPASS, restic/borg passphrases",
        r"(?<![A-Za-z0-9_])(?:PGPASSWORD|MYSQL_PWD|REDISCLI_AUTH|SSHPASS|RESTIC_PASSWORD|BORG_PASSPHRASE)"
        r"\s*=\s*(?:\"([^\"\n]+)\"|'([^'\n]+)'|([^\s\"'`;]+))",
    ),
    _rule(
        "option_password",
        "MySQL Reference Manual, Using Options on the Command Line; MariaDB --password (-p): -p<password>"
        " with no space (mysql, mysqldump, mysqladmin, mariadb, mariadb-dump …)",
        rf"{_COMMAND}(?:mysql[a-z]*|mariadb(?:-[a-z]+)?){_ARGUMENTS}\s+-p{_GIVEN}",
        _then("(?:mysql|mariadb)", "-p"),
    ),
    _rule(
        "option_password",
        "sshpass(1): -p<password>, -p <password>, among its options before the command it runs (-P <prompt>"
        " takes a value of its own)",
        rf"{_COMMAND}sshpass(?:\s+-P\s*(?:\"[^\"\n]*\"|'[^'\n]*'|[^\s|;&]+)|\s+-[A-Za-oq-z]\S*)*?\s+-p\s*{_GIVEN}",
    ),
    _rule(
        "option_password",
        "redis-cli (and valkey-cli) -a <password>, --pass <password>",
        rf"{_COMMAND}(?:redis|valkey)-cli{_ARGUMENTS}\s+(?:-a|--pass)\s+{_GIVEN}",
        _then("(?:redis|valkey)-cli", "-(?:a|-pass)"),
    ),
    _rule(
        "option_password",
        "MongoDB shell and tools (mongosh, mongo, mongodump …): -p <password>, --password <password>",
        rf"{_COMMAND}mongo(?:sh|dump|restore|export|import|stat|top|files)?{_ARGUMENTS}"
        rf"\s+(?:-p|--password)(?:\s+|=){_GIVEN}",
        _then("mongo", "-p"),
    ),
    _rule(
        "option_password",
        "docker login, podman login, nerdctl login: -p, --password <password>",
        rf"{_COMMAND}(?:docker|podman|nerdctl)\s+login{_ARGUMENTS}\s+(?:-p|--password)(?:\s+|=){_GIVEN}",
        _then("(?:docker|podman|nerdctl)", "login", "-p"),
    ),
    _rule(
        "option_password",
        "Apache htpasswd(1): -b (batch mode), the password last: htpasswd -b[c] file user password,"
        " htpasswd -nb user password",
        rf"{_COMMAND}htpasswd(?=(?:\s+[^\s|;&]+){{0,4}}?\s+-[A-Za-z]*b){_ARGUMENTS}\s+{_GIVEN}(?=\s*(?:[|;&<>]|[0-9]>|$))",
    ),
    _rule(
        "option_password",
        "openssl-passphrase-options(1): -pass, -passin, -passout, -password pass:<password>",
        rf"-pass(?:in|out|word)?\s+(?:\"pass:([^\"\n]+)\"|'pass:([^'\n]+)'|pass:({_BARE_VALUE}+))",
        _then("-pass", "pass:"),
    ),
    _rule(
        "option_password",
        "openssl-enc(1): -k <password>, -K <key in hex>",
        rf"{_COMMAND}openssl{_ARGUMENTS}\s+-[kK]\s+{_GIVEN}",
        _then("openssl", "-[kK]"),
    ),
    _rule(
        "option_password",
        "Samba smbclient(1), rpcclient, smbcacls …: -U, --user=[DOMAIN\\]USERNAME[%PASSWORD]",
        r"(?<![A-Za-z0-9_\-])(?:-U\s*|--user(?:name)?(?:\s+|=))[\"']?[^\s%\"']+%(?![$%{])([^\s\"']+)",
        "(?:-U|--user)[^%]*%",
    ),
    _rule(
        "option_password",
        "Samba smbclient(1): smbclient {servicename} [password], the password right after //server/service",
        rf"{_COMMAND}smbclient{_ARGUMENTS}\s+[\"']?(?://|\\\\)[^\s\"']+[\"']?\s+(?![0-9]+>){_GIVEN}",
    ),
    _rule(
        "option_password",
        "lftp(1): lftp -u user[,pass], open -u user[,pass] (at lftp's prompt, or in lftp -c/-e commands)",
        rf"{_COMMAND}lftp{_ARGUMENTS}\s+-u\s*(?:[\"'][^\s,\"']*|[^\s,\"'`;|&<>()]*),{_GIVEN}",
        _then("lftp", "-u"),
    ),
    _rule(
        "option_password",
        "Azure CLI reference, az login: -p, --password <user password or a service principal's client secret>"
        " (prompts when not given; --password=<value> for one that starts with -)",
        rf"{_COMMAND}az\s+login{_ARGUMENTS}\s+(?:-p|--password)(?:\s+|=){_GIVEN}",
        _then("az", "login", "-p"),
    ),
    _rule(
        "option_password",
        "keytool and jarsigner (JDK): -storepass, -keypass, -srcstorepass, -deststorepass, -srckeypass,"
        " -destkeypass <password> (-storepass:env NAME and -storepass:file PATH name where it is)",
        rf"(?<![A-Za-z0-9_\-])-(?:src|dest)?(?:storepass|keypass)\s+{_GIVEN}",
    ),
    _rule(
        "option_password",
        "OpenLDAP ldapsearch(1), ldapadd, ldapmodify, ldapdelete …: -w <password> (-W prompts, -y reads a file)",
        rf"{_COMMAND}ldap(?:search|add|modify|delete|modrdn|passwd|whoami|compare|exop){_ARGUMENTS}\s+-w\s*{_GIVEN}",
    ),
    _rule(
        "option_password",
        "Info-ZIP zip(1) and unzip(1): -P <password>; 7-Zip: -p<password> (no space)",
        rf"{_COMMAND}(?:(?:un)?zip{_ARGUMENTS}\s+-P\s+|7z[arz]?{_ARGUMENTS}\s+-p){_GIVEN}",
        f"{_then('zip', '-P')}|{_then('7z', '-p')}",
    ),
    _rule(
        "option_password",
        "SQL Server sqlcmd and bcp: -P <password>",
        rf"{_COMMAND}(?:sqlcmd|bcp){_ARGUMENTS}\s+-P\s*{_GIVEN}",
    ),
    _rule(
        "option_password",
        "FreeRDP (xfreerdp, wlfreerdp, sdl-freerdp): /p:<password>",
        rf"{_COMMAND}[a-z]*freerdp[0-9]*{_ARGUMENTS}\s+[/-]p:{_GIVEN}",
    ),
    _rule(
        "option_password",
        "wget(1) --password, --http-password, --ftp-password, --proxy-password; curl --oauth2-bearer;"
        " kubectl --token; gpg --passphrase; docker login --password; --api-key, --client-secret, --auth-token,"
        " --secret … (docker build's and podman's --secret id=…,src=… name a secret and do not hold it)",
        rf"{_SECRET_OPTION}(?:=|\s+(?!{_PLAIN_WORD}(?!{_BARE_VALUE}))){_OPTION_VALUE}",
    ),
    _rule(
        "option_password",
        "the same long options (wget(1), kubectl, gpg(1) …) with one plain word as their value, in a command"
        " (after its program's name, not mysql's: mysql --password db prompts; nor docker's or podman's: run"
        " --secret <name>; or a line's first option, not a --help text's, where a description follows the value"
        " after two spaces)",
        r"(?:^|[|;&(`])\s*(?:"
        rf"(?!-|{_WORD_NAMES_NO_SECRET})[^\s|;&]+\s+(?:(?!{_WORD_NAMES_NO_SECRET})[^\s|;&]+\s+){{0,15}}?{_WORD_GIVEN}"
        rf"|(?:-[A-Za-z0-9],?\s+)?{_WORD_GIVEN}(?![\t ]*(?:\t| {{2}})[\t ]*[A-Za-z]))",
    ),
    _rule(
        "pgpass",
        "libpq, The Password File (~/.pgpass): hostname:port:database:username:password, on PostgreSQL's"
        " ports (5400-5499, PgBouncer's 6432) or *",
        _PGPASS_FIELDS.format(port=r"(?:54[0-9]{2}|6432|\*)"),
    ),
    _rule(
        "pgpass",
        "libpq, The Password File (~/.pgpass): a line written to it (echo 'host:port:db:user:password' >> ~/.pgpass)",
        _PGPASS_FIELDS.format(port=r"(?:[0-9]{1,5}|\*)") + r"[\"']?\s*>>?\s*\S*\.pgpass",
    ),
    _rule(
        "azure",
        "Azure connection strings (Service Bus, Event Hubs, IoT Hub, Storage: SharedAccessKey=, AccountKey=)",
        r"(?i:SharedAccessKey|AccountKey|SharedAccessSignature)\s*=\s*([A-Za-z0-9+/%]{16,}={0,2})",
    ),
)
"""Every provider format the detector knows beyond detect-secrets' plugins (below); each
match's first non-empty group is the secret."""

PLUGINS: tuple[tuple[str, BasePlugin], ...] = (
    ("aws", AWSKeyDetector()),
    ("github", GitHubTokenDetector()),
    ("gitlab", GitLabTokenDetector()),
    ("slack", SlackDetector()),
    ("stripe", StripeDetector()),
    ("openai", OpenAIDetector()),
    ("jwt", JwtTokenDetector()),
    ("url_password", BasicAuthDetector()),
    ("npm", NpmDetector()),
    ("pypi", PypiTokenDetector()),
    ("other_provider", ArtifactoryDetector()),
    ("other_provider", AzureStorageKeyDetector()),
    ("other_provider", DiscordBotTokenDetector()),
    ("other_provider", MailchimpDetector()),
    ("other_provider", SendGridDetector()),
    ("other_provider", SquareOAuthDetector()),
    ("other_provider", TelegramBotTokenDetector()),
    ("other_provider", TwilioKeyDetector()),
)
"""detect-secrets 1.5's provider plugins (source: Yelp/detect-secrets, maintained upstream)."""

PRIVATE_KEY_BEGIN = re.compile(r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----")
"""The BEGIN line of a PEM/PGP private key (RFC 7468, RFC 4880 armor); group 1 is its label."""

PRIVATE_KEY_BLOCK = re.compile(PRIVATE_KEY_BEGIN.pattern + r"(.*?)-----END \1-----", re.DOTALL)
"""A whole PEM/PGP private key, on lines or on one line (as JSON escapes it): group 2, the body,
is masked, the BEGIN/END lines stay as context."""

KEY_BODY_LINE = re.compile(r"(?:> )?[ \t]*(?:[A-Za-z0-9+/=]*|[A-Za-z][A-Za-z0-9-]*: [^\n]*)[ \t]*\r?")
"""A line a private key's body can hold: base64 (a row still being typed too), an armor header
(``Proc-Type: 4,ENCRYPTED``, ``Version: …``; RFC 1421, RFC 4880) or a blank line; after the
shell's ``> `` when a here-document's lines are echoed. A key whose
END line is not (yet) there runs over such lines after its BEGIN line."""


def _assigned(space: str, inside_quotes: str, bare: str) -> str:
    """What follows a secret name: the sign, then the value (group 1 in double quotes, group 2 in
    single quotes, group 3 bare), with what may separate them and what a bare value is."""
    return (
        rf"[\"']?{space}*(?::=|=>|=|:){space}*"
        rf"(?:\"([^\"{inside_quotes}]{{4,}})\"|'([^'{inside_quotes}]{{4,}})'|({bare}))"
    )


ASSIGNMENT = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?:[A-Za-z0-9]*[_\-.])*"
    + SECRET_WORD
    + _NAME_END
    + _assigned(r"\s", r"\n", r"[^\s\"'`,;#]{6,}")
)
"""``NAME = value`` where NAME sounds secret: shell exports, .env lines, YAML, code."""

WORD_VALUE = re.compile(r"[A-Za-z][a-z]{5,14}")
"""A bare value of :data:`ASSIGNMENT` that is one word (``auth: session``), which
:func:`assignment_value_is_secret` rejects as a name: letters, a capital at most first, and
too short (under 16) to be base64 of a printable secret."""

_BARE = r"[^\t\n\x0b\x0c\r\x1c-\x1f \"'`,;#]"
"""A character of a bare value, in ASCII (Python's ``\\s`` is ``[\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f ]``)."""
_NO_LETTER = _BARE[:-1] + "A-Za-z]"
_NO_SMALL_LETTER = _BARE[:-1] + "a-z]"
_NOT_A_WORD = (
    rf"{_BARE}{{16}}|{_NO_LETTER}{_BARE}{{5}}|{_BARE}(?:{_NO_SMALL_LETTER}{_BARE}{{4}}|{_BARE}{_NO_SMALL_LETTER}{_BARE}{{3}}"
    rf"|{_BARE}{{2}}{_NO_SMALL_LETTER}{_BARE}{{2}}|{_BARE}{{3}}{_NO_SMALL_LETTER}{_BARE}|{_BARE}{{4}}{_BARE}*{_NO_SMALL_LETTER})"
)
"""The start of a bare value of 6 or more that is no :data:`WORD_VALUE`: 16 long, or with a
character that is no letter first, or no small letter later, where there are 6 at least.
(RE2 cannot say "not", so the complement is spelled out, by where that character is.)"""

ASSIGNMENT_UNLIKE_A_WORD = rf"(?i:{SECRET_WORD}){_NAME_END}" + _assigned(
    r"[\t\x1f ]", r"\n\r\x0b\x0c\x1c-\x1e", f"(?:{_NOT_A_WORD})"
)
"""For RE2, over many lines of ASCII text at once: finds something wherever :data:`ASSIGNMENT`,
run on each line, finds a value that is quoted or no :data:`WORD_VALUE`. So where it finds
nothing, the assignment detector finds nothing either (``tests/test_redaction.py`` draws text to
check). A match of the other in a line holds one of this one from its secret word on: the
whitespace here is a line's (none of ``str.splitlines``' breaks), as the other's can be only
within one line, and its name's start and value's end are not asked for."""

TOKEN = re.compile(r"(?<![A-Za-z0-9+/_\-=])([A-Za-z0-9+/_\-]{32,}={0,2})(?![A-Za-z0-9+/_\-=])")
"""A long unbroken token, checked for entropy: base64 key material, unknown providers' keys."""


def needles(regex: re.Pattern[str]) -> frozenset[str] | None:
    """Strings one of which every match of ``regex`` contains, as the regex spells them (in any
    case where it :func:`ignores_case`), read off its parsed form; None when it has none. A line
    that holds none of them cannot match, and the regex need not run.

    A needle is a run of consecutive characters the regex requires, spelled out over small
    character classes and alternatives (``(?:r|s)k_live_`` gives ``rk_live_`` and ``sk_live_``,
    ``gl(?:pat|dt)-`` gives ``glpat-`` and ``gldt-``), so that common two-letter starts (``sk``,
    ``gl``) do not let every line through. Of the runs found, the one whose shortest needle is
    longest is kept."""
    return _needles(sre_parse.parse(regex.pattern, regex.flags))


def ignores_case(regex: re.Pattern[str]) -> bool:
    """Whether any part of ``regex`` matches without regard to case (its flags, or ``(?i:…)``)."""
    return bool(regex.flags & re.IGNORECASE) or re.search(r"\(\?[a-zA-Z-]*i", regex.pattern) is not None


_SPELLED = 64
"""At most this many needles spelled out for one run (the rest of the run is not used)."""


def _needles(items: Any) -> frozenset[str] | None:
    candidates = []
    items = list(items)
    for i, (op, argument) in enumerate(items):
        runs, _ = _runs(items[i:], frozenset({""}))
        if min(map(len, runs)) >= 2:
            candidates.append(runs)
        inner = None
        if op is sre_constants.SUBPATTERN:
            inner = _needles(argument[-1])
        elif op is sre_constants.BRANCH:
            branches = [_needles(branch) for branch in argument[1]]
            if all(b is not None for b in branches):
                inner = frozenset().union(*branches)  # type: ignore[arg-type]
        if inner is not None:
            candidates.append(inner)
    if not candidates:
        return None
    return max(candidates, key=lambda runs: min(map(len, runs)))


def _runs(items: Any, runs: frozenset[str]) -> tuple[frozenset[str], bool]:
    """``runs`` continued by the characters every match of ``items`` starts with, spelled out,
    and whether ``items`` is matched by exactly those characters (the run may go on after it)."""
    for op, argument in items:
        if op is sre_constants.SUBPATTERN:
            runs, whole = _runs(argument[-1], runs)
            if not whole:
                return runs, False
            continue
        if op is sre_constants.BRANCH:
            ends = [_runs(branch, runs) for branch in argument[1]]
            joined = frozenset().union(*(end for end, _ in ends))
            if len(joined) > _SPELLED:
                return runs, False
            runs = joined
            if not all(whole for _, whole in ends):
                return runs, False
            continue
        if op is sre_constants.MAX_REPEAT and argument[0] == argument[1] and argument[0] <= 8:
            repeated, whole = runs, True
            for _ in range(argument[0]):
                repeated, whole = _runs(argument[2], repeated)
                if not whole:
                    break
            if len(repeated) > _SPELLED:
                return runs, False
            runs = repeated
            if not whole:
                return runs, False
            continue
        chars = _characters(op, argument)
        if chars is None or len(chars) * len(runs) > _SPELLED:
            return runs, False
        runs = frozenset(run + c for run in runs for c in chars)
    return runs, True


def _characters(op: Any, argument: Any) -> str | None:
    """The characters one item matches, when it is a literal or a small class (up to 16)."""
    if op is sre_constants.LITERAL:
        return chr(argument)
    if op is not sre_constants.IN:
        return None
    chars = ""
    for kind, value in argument:
        if kind is sre_constants.LITERAL:
            chars += chr(value)
        elif kind is sre_constants.RANGE and value[1] - value[0] < 16:
            chars += "".join(map(chr, range(value[0], value[1] + 1)))
        else:  # a category too: Python's \d is every script's digits
            return None
    return chars if len(chars) <= 16 else None


_TEMPLATE = re.compile(r"^\$\{?[A-Za-z_]|^%\(|^\{\{|^<[^>]*>$|\*{4}|^\.\.\.$")
_CODE_LIKE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*[.\[(]")
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_LETTERS = re.compile(r"[A-Za-z_]+")
_HEX = re.compile(r"[0-9a-f]+|[0-9A-F]+")
_GIT_ID = re.compile(r"[0-9a-f]{40}")
_CLASSES = (re.compile(r"[a-z]"), re.compile(r"[A-Z]"), re.compile(r"[0-9]"))


def _reads_as_identifier(value: str) -> bool:
    """``user_password``, ``getDbPassword``, ``DB_PASSWORD``: a name made of words, as code
    assigns it. A token of random letters (base64 without a digit, as a k8s secret can be) splits
    into one-letter fragments instead."""
    if not _LETTERS.fullmatch(value) or _encodes_printable(value):
        return False
    words = _WORD.findall(value)
    return all(len(w) >= 2 for w in words) and sum(map(len, words)) >= 3 * len(words)


_PATH_PARTS = re.compile(r"[/_.\-]")


def _path_of_names(token: str) -> bool:
    """``src/components/UserProfileCardHeader/index_40``: a path whose every part is a name made
    of words (:func:`_reads_as_identifier`) or a number, as build output and test runners print
    them. Key material with a ``/`` (base64) splits into parts of random letters and digits."""
    if "/" not in token:
        return False
    parts = [part for part in _PATH_PARTS.split(token) if part]
    return len(parts) >= 2 and all(part.isdigit() or _reads_as_identifier(part) for part in parts)


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
    if _encodes_text(token):
        return False
    if _HEX.fullmatch(token):
        return len(token) >= 32 and shannon_entropy(token) >= 3.0 and not _GIT_ID.fullmatch(token)
    classes = sum(class_.search(token) is not None for class_ in _CLASSES)
    if classes < 3 or _LETTERS.fullmatch(token):
        return False
    if token.count("_") + token.count("-") > len(token) // 6:  # snake_case or kebab-case words
        return False
    return shannon_entropy(token) >= 4.2 and not _path_of_names(token)


_ALGORITHM = r"(?i:sha(?:1|224|256|384|512)|md5|blake2b?)[-:]"
_DIGEST_LABEL = re.compile(_ALGORITHM + r"$")
_LABELLED_TOKEN = re.compile(_ALGORITHM)


def is_digest(line: str, start: int) -> bool:
    """The token at ``line[start:]`` is labelled as a content digest: a Subresource-Integrity
    hash (``sha512-…`` in npm lockfiles), an OCI digest (``sha256:…``). Digests are public
    fingerprints of public content, not key material."""
    return (
        _DIGEST_LABEL.search(line[max(0, start - 8) : start]) is not None
        or _LABELLED_TOKEN.match(line, start) is not None
    )


def _encodes_printable(value: str) -> bool:
    """Base64 (as Kubernetes keeps a secret's value) of printable ASCII: a name made of words
    decodes to arbitrary bytes, an encoded secret to printable ones."""
    if len(value) < 16 or len(value) % 4:
        return False
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return all(32 <= b < 127 for b in data)


def _encodes_text(token: str) -> bool:
    """A base64 token that decodes to ordinary words (test vectors, encoded sentences): random key
    material decodes to arbitrary bytes, almost never to printable text with spaces."""
    stripped = token.rstrip("=")
    try:
        data = base64.b64decode(stripped + "=" * (-len(stripped) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    if not data or b" " not in data or not all(32 <= b < 127 or b in (9, 10, 13) for b in data):
        return False
    letters = sum(chr(b).isalpha() or b == 32 for b in data)
    return letters >= 0.85 * len(data)


def assignment_value_is_secret(value: str, quoted: bool) -> bool:
    """Reject values of ``NAME = value`` that are placeholders, or (unquoted) code, not secrets.

    ``password = "hunter2"`` and ``PASSWORD=hunter2`` are secrets; ``password = get_password()``,
    ``password = user_password`` and ``password: ${DB_PASSWORD}`` are not.
    """
    stripped = value.strip()
    if not quoted:
        stripped = stripped.rstrip(",;)}]")
    if (
        len(stripped) < 4
        or _TEMPLATE.search(stripped)
        or (not quoted and (_CODE_LIKE.search(stripped) or _reads_as_identifier(stripped)))
    ):
        return False
    return stripped.lower() not in PLACEHOLDER_WORDS
