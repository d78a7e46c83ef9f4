"""Recall and near-miss false positives on a corpus drawn afresh in every run, per channel."""

from __future__ import annotations

import base64

import orjson

from crowdcode_sdk.positions import utf16_len
from crowdcode_sdk.redaction import Identity, IdentityMasker, Redactor, find_secrets
from tests.fresh_corpus import fresh_rng, near_misses, secrets
from tests.secret_corpus import fragments

ALICE = IdentityMasker(Identity(home="/home/alice", user="alice", host="alice-laptop"))


def _file(line: str) -> str:
    return Redactor(ALICE).text(line + "\n")


def _typed(line: str) -> str:
    events, offset = [], 0
    for i, piece in enumerate([*line, "\n"]):
        diff = {"rangeOffset": offset, "rangeLength": 0, "text": piece}
        action = {"kind": "edit", "source": "user", "file": "/home/alice/p/a.py", "diff": diff}
        events.append({"sequence": i + 1, "timestamp": i, "type": "action", "action": action})
        offset += utf16_len(piece)
    return "".join(e["action"]["diff"]["text"] for e in Redactor(ALICE).events(events))


def _keystrokes(line: str) -> str:
    events = [
        {
            "sequence": i + 1,
            "timestamp": i,
            "type": "action",
            "action": {"kind": "terminal_input", "terminalId": "t", "data": c},
        }
        for i, c in enumerate(line.replace("\n", "\r") + "\r")  # a line typed or pasted: Enter after each
    ]
    return "".join(e["action"]["data"] for e in Redactor(ALICE).events(events))


def _cast(line: str) -> str:
    """Printed after a Latin-1 byte (so with a "b" event), and typed as a command carried in a
    shell-integration mark."""
    raw = b"caf\xe9\r\n" + line.replace("\n", "\r\n").encode() + b"\r\n"
    # A .netrc line of its own is a file's line, never a command: the mark carries the others.
    command = "" if line.lstrip().startswith("password ") else line.splitlines()[0]
    mark = f"\x1b]6973;n0nce;C;{command}\x07$ "
    events = [[0.1, "o", raw.decode("utf-8", "replace")], [0.1, "b", base64.b64encode(raw).decode()], [0.2, "o", mark]]
    cast = b"\n".join([orjson.dumps({"version": 2, "width": 80, "height": 24}), *map(orjson.dumps, events)])
    out = [orjson.loads(x) for x in Redactor(ALICE).cast(cast + b"\n").splitlines()[1:]]
    exact = base64.b64decode(out[1][2]).decode("latin-1")
    return "\n".join([out[0][2], exact, out[2][2]])


CHANNELS = {"file": _file, "typed": _typed, "keystrokes": _keystrokes, "cast": _cast}


def test_every_format_in_every_channel() -> None:
    seed, rng = fresh_rng()
    missed = []
    for category, secret, line in secrets(rng):
        for channel, redact in CHANNELS.items():
            shown = redact(line)
            if any(fragment in shown for fragment in fragments(category, secret)):
                missed.append((channel, category, line))
    assert not missed, f"seed {seed}: {missed}"


def test_near_misses_are_left_alone() -> None:
    seed, rng = fresh_rng()
    lines = near_misses(rng)
    assert len(lines) >= 100
    masked = [line for line in lines if find_secrets(line)]
    assert len(masked) <= len(lines) // 100, f"seed {seed}: {masked}"
