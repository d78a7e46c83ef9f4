"""What the end-to-end privacy tests share beyond ``privacy_support``: a host name of the test's
choosing, and every byte a server stored, as text to search.

The test machine's own host name (``vm``) is too short to mask as a word, and any fixed name could
be in the data by chance: the tests run their programs under a fresh random one, in a new UTS
namespace (``unshare --uts``; as an ordinary user inside a user namespace that maps it to root).
"""

from __future__ import annotations

import base64
import os
import secrets

import orjson

from tests.privacy_support import bundles_in


def random_host() -> str:
    """A host name no data could hold by chance, longer than the 3 characters the masker needs."""
    return "hq-" + secrets.token_hex(5)


def on_host(host: str, argv: list[str]) -> list[str]:
    """``argv`` run under the host name ``host`` (its children and daemons keep it)."""
    user_namespace = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    return ["unshare", *user_namespace, "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', host, *argv]


def member_texts(members: dict[str, bytes]) -> list[str]:
    """A bundle's members, one byte a character, with the exact bytes of each cast's ``"b"``
    events decoded from base64 (a secret must not hide there either)."""
    texts = []
    for name, data in members.items():
        texts.append(data.decode("latin-1"))
        if name.endswith(".cast"):
            for line in data.splitlines()[1:]:
                event = orjson.loads(line)
                if event[1] == "b":
                    texts.append(base64.b64decode(event[2]).decode("latin-1"))
    return texts


def stored_text(server) -> str:  # type: ignore[no-untyped-def]
    """Every bundle the server stored, as :func:`member_texts`, in one text to search."""
    return "\n".join(text for members in bundles_in(server) for text in member_texts(members))
