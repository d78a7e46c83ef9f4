"""Private keys typed, pasted or printed in pieces: every row of the body is masked, by the BEGIN
line, whatever the rows look like alone (a short last row has too little entropy to be found).

The editor cases replay real shapes of an edit stream: one character at a time, chunks of up to a
line and more without a newline (Neovim sends typed text in pieces), the whole block at once, the
END line typed before the body, rows typed in any order, a row edited in a later batch; batches
cut anywhere, with the next batch as lookahead and the state settled between, as an upload does.
Each case runs for many seeds; a failure names its seed.
"""

from __future__ import annotations

import base64
import functools
import itertools
import pickle
import random

import orjson
import pytest

from crowdcode_sdk.attribution.diffs import unified_diff
from crowdcode_sdk.redaction import Redactor, find_secrets

from .test_redaction import ALICE, _cast, edit, keys, replay

SEEDS = range(150)
CODE_ABOVE = "import os\n\n\ndef main() -> int:\n    return 0\n\n"
CODE_BELOW = "\nif __name__ == '__main__':\n    main()\n"


def _key(rng: random.Random, label: str = "RSA PRIVATE KEY") -> tuple[str, list[str]]:
    """A PEM block whose last row is short (8 to 31 characters: too short for the entropy rule)."""
    body = base64.b64encode(rng.randbytes(rng.randrange(300, 700))).decode()
    rows = [body[i : i + 64] for i in range(0, len(body), 64)]
    rows[-1] = rows[-1][: rng.randrange(8, 32)]
    return f"-----BEGIN {label}-----\n" + "\n".join(rows) + f"\n-----END {label}-----\n", rows


def _masked(text: str, rows: list[str]) -> str:
    for row in rows:
        text = text.replace(row, "*" * len(row))
    return text


def _pieces(rng: random.Random, text: str) -> list[str]:
    """``text`` cut as an editor sends it: single keys, chunks of up to 80 characters, or whole."""
    mode = rng.choice(["keys", "chunks", "whole"])
    if mode == "whole":
        return [text]
    out, i = [], 0
    while i < len(text):
        n = 1 if mode == "keys" else rng.choice([1, 1, 2, 7, 30, 45, 64, 80])
        out.append(text[i : i + n])
        i += n
    return out


def _typed(rng: random.Random, lines: list[str], order: list[int], start: int = 1) -> list[dict]:
    """Edits that type ``lines`` (each ending in a newline) into an empty file, the lines in
    ``order``, each at its place among those already there (above a line: a new line opened first,
    as an editor's ``O`` or Enter does, then typed)."""
    events: list[dict] = []
    present: set[int] = set()
    for index in order:
        offset = sum(len(lines[i]) for i in present if i < index)
        line = lines[index]
        if any(i > index for i in present):
            events.append(edit(start + len(events), offset, 0, "\n", "/home/alice/proj/deploy.py"))
            line = line[:-1]
        for piece in _pieces(rng, line) if line else ():
            events.append(edit(start + len(events), offset, 0, piece, "/home/alice/proj/deploy.py"))
            offset += len(piece)
        present.add(index)
    return events


def _redacted_in_batches(rng: random.Random, events: list[dict]) -> list[dict]:
    cuts = sorted(rng.sample(range(1, len(events)), min(len(events) - 1, rng.randrange(0, 6))))
    batches = [events[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)], strict=True)]
    redactor = Redactor(ALICE)
    out: list[dict] = []
    for i, batch in enumerate(batches):
        ahead = batches[i + 1] if i + 1 < len(batches) else []
        out += redactor.events(batch, lookahead=ahead)
        redactor.settle()
    return out


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_key_typed_in_any_pieces_and_order_after_its_begin_line_is_masked(seed: int) -> None:
    rng = random.Random(seed)
    block, rows = _key(rng, rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "OPENSSH PRIVATE KEY"]))
    text = CODE_ABOVE + block + CODE_BELOW
    lines = _lines(text)
    begin = lines.index(block.splitlines(keepends=True)[0])
    rest = [i for i in range(len(lines)) if i != begin]
    shape = rng.choice(["in order", "end first", "any order"])
    if shape == "in order":
        order = list(range(len(lines)))
    elif shape == "end first":
        end = begin + len(rows) + 1
        order = [*range(begin + 1), end, *(i for i in range(begin + 1, len(lines)) if i != end)]
    else:
        rng.shuffle(rest)
        order = [begin, *rest]
    out = _redacted_in_batches(rng, _typed(rng, lines, order))
    assert replay(out) == _masked(text, rows), f"seed {seed} ({shape})"


@pytest.mark.parametrize("seed", SEEDS[:50])
def test_a_row_edited_in_a_later_batch_is_masked(seed: int) -> None:
    rng = random.Random(seed)
    block, rows = _key(rng)
    text = CODE_ABOVE + block + CODE_BELOW
    redactor = Redactor(ALICE)
    first = redactor.events(_typed(rng, _lines(text), list(range(len(_lines(text))))))
    redactor.settle()
    row = rng.randrange(len(rows))
    cut = rng.randrange(len(rows[row]))
    width = rng.randrange(1, len(rows[row]) - cut + 1)
    fresh = base64.b64encode(rng.randbytes(width)).decode()[:width]
    offset = text.index(rows[row]) + cut
    later = redactor.events([edit(10_000, offset, width, fresh, "/home/alice/proj/deploy.py")])
    assert later[0]["action"]["diff"]["text"] == "*" * width, f"seed {seed}"
    assert replay(first) == _masked(text, rows), f"seed {seed}"


def test_a_begin_line_typed_after_its_rows_in_the_same_batch_masks_them() -> None:
    rng = random.Random(7)
    block, rows = _key(rng)
    lines = _lines(block)
    order = [*range(1, len(lines)), 0]
    assert replay(Redactor(ALICE).events(_typed(rng, lines, order))) == _masked(block, rows)


def test_code_that_names_a_begin_line_opens_no_block() -> None:
    code = 'if line == "-----BEGIN RSA PRIVATE KEY-----":\n    pass\nreturn header\n'
    assert find_secrets(code) == []
    rng = random.Random(1)
    assert replay(Redactor(ALICE).events(_typed(rng, _lines(code), [0, 1, 2]))) == code


def test_an_open_block_ends_at_the_first_line_a_key_cannot_hold() -> None:
    text = "KEY = '''-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nAbCdEfGh12\n''' + load(path)\n"
    masked = [(f.start, f.end, f.category) for f in find_secrets(text)]
    body = text.index("MIIE")
    assert masked == [(body, text.index("\n'''"), "private_key")]


def test_a_key_printed_by_a_terminal_is_masked_to_its_last_row() -> None:
    rng = random.Random(3)
    block, rows = _key(rng)
    printed = block.replace("\n", "\r\n")
    chunks = [printed[i : i + 50] for i in range(0, len(printed), 50)]
    events = [[0.1, "o", "$ cat id_rsa\r\n"], *([0.2 + i / 100, "o", c] for i, c in enumerate(chunks))]
    redactor = Redactor(ALICE)
    out = redactor.cast(_cast(*events, [1.0, "o", "$ "]))
    shown = "".join(orjson.loads(line)[2] for line in out.splitlines()[1:])
    assert shown == "$ cat id_rsa\r\n" + _masked(block, rows).replace("\n", "\r\n") + "$ "
    assert redactor.counts["private_key"] == 1  # one key, not one per row


def test_a_key_typed_into_a_terminal_is_masked_to_its_last_row() -> None:
    rng = random.Random(4)
    block, rows = _key(rng)
    typed = "cat > id_rsa <<EOF\r" + block.replace("\n", "\r") + "EOF\r"
    events = [keys(i + 1, c) for i, c in enumerate(typed)]
    redactor = Redactor(ALICE)
    out = redactor.events(events)
    assert "".join(e["action"]["data"] for e in out) == _masked(typed, rows)
    assert redactor.counts["private_key"] == 1


# --- a key already in the file when the recording started ------------------------------------------

FILE = "/home/alice/proj/deploy.py"


def _opened(seq: int, text: str | None) -> dict:
    action = {"kind": "file_open", "source": "user", "file": FILE, **({} if text is None else {"text": text})}
    return {"sequence": seq, "timestamp": seq, "type": "action", "action": action}


def _snapshot(seq: int, snapshot_id: str) -> dict:
    return {"sequence": seq, "timestamp": seq, "type": "workspace_snapshot", "snapshotId": snapshot_id}


def _fresh(rng: random.Random, width: int) -> str:
    return base64.b64encode(rng.randbytes(width)).decode()[:width]


def _body(text: str) -> tuple[int, list[str]]:
    """Where the key's body starts in ``text``, and its rows."""
    start = text.index("\n", text.index("-----BEGIN")) + 1
    return start, text[start : text.index("-----END")].split("\n")[:-1]


def _row_edits(rng: random.Random, text: str, seq: int) -> tuple[list[dict], str]:
    """Edits of the key's rows as a person makes them, in random pieces: a row retyped, a new short
    last row typed, rows pasted, part of a row replaced; returns the edits and the text after them."""
    events: list[dict] = []

    def change(offset: int, length: int, new: str) -> None:
        nonlocal text
        events.append(edit(seq + len(events), offset, length, new, FILE))
        text = text[:offset] + new + text[offset + length :]

    for _ in range(rng.randrange(1, 5)):
        start, rows = _body(text)
        row = rng.randrange(len(rows))
        at = start + sum(len(r) + 1 for r in rows[:row])
        how = rng.choice(["retype", "new last row", "paste", "replace"])
        if how == "retype":
            change(at, len(rows[row]), "")
            for piece in _pieces(rng, _fresh(rng, rng.randrange(1, 65))):
                change(at, 0, piece)
                at += len(piece)
        elif how == "new last row":
            at = start + sum(len(r) + 1 for r in rows)
            for piece in _pieces(rng, _fresh(rng, rng.randrange(1, 32)) + "\n"):
                change(at, 0, piece)
                at += len(piece)
        elif how == "paste":
            change(at, 0, "".join(_fresh(rng, 64) + "\n" for _ in range(rng.randrange(1, 4))))
        elif rows[row]:
            cut = rng.randrange(len(rows[row]))
            change(at + cut, rng.randrange(len(rows[row]) - cut + 1), _fresh(rng, rng.randrange(1, 12)))
    return events, text


def _masked_body(text: str) -> str:
    start, rows = _body(text)
    end = start + sum(len(r) + 1 for r in rows)
    return text[:start] + "".join(c if c == "\n" else "*" for c in text[start:end]) + text[end:]


def _snapshot_file(snapshot: dict[str, str], snapshot_id: str, file: str) -> str | None:
    return snapshot.get(f"{snapshot_id}:{file}")


def _redacted_across_bundles(
    rng: random.Random, events: list[dict], snapshot: dict[str, str], gap: int = 1
) -> list[dict]:
    """``events`` redacted in random batches (at least ``gap`` events each), the next as lookahead,
    the state settled and kept (pickled) between them as an upload keeps it; the snapshot files
    readable as an upload reads them."""
    cuts: list[int] = []
    for cut in sorted(rng.sample(range(1, len(events)), min(len(events) - 1, rng.randrange(0, 6)))):
        if cut - (cuts[-1] if cuts else 0) >= gap:
            cuts.append(cut)
    batches = [events[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)], strict=True)]
    out: list[dict] = []
    redactor = Redactor(ALICE)
    for i, batch in enumerate(batches):
        redactor.snapshot_text = functools.partial(_snapshot_file, snapshot)
        out += redactor.events(batch, lookahead=batches[i + 1] if i + 1 < len(batches) else [])
        redactor.settle()
        redactor = pickle.loads(pickle.dumps(redactor))
    return out


@pytest.mark.parametrize("seed", SEEDS[:100])
def test_rows_edited_in_a_key_the_file_held_when_it_was_opened_are_masked(seed: int) -> None:
    """The file's text at the start comes with its ``file_open`` (a file opened before the first
    snapshot), or from the last workspace snapshot (the open then carries none), or from the
    snapshot changed by another program's diff since."""
    rng = random.Random(seed)
    block, _ = _key(rng, rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "OPENSSH PRIVATE KEY"]))
    text = CODE_ABOVE + block + CODE_BELOW
    channel = rng.choice(["open", "snapshot", "snapshot and diff"])
    snapshot: dict[str, str] = {}
    if channel == "open":
        start = [_opened(1, text)]
    elif channel == "snapshot":
        snapshot[f"s-1:{FILE}"] = text
        start = [_snapshot(1, "s-1"), _opened(2, None)]
    else:
        before = text.replace(CODE_BELOW, "")
        snapshot[f"s-1:{FILE}"] = before
        diff = unified_diff(before, text, "deploy.py")
        assert diff is not None
        change = {"kind": "file_change", "source": "agent", "file": FILE, "changeType": "modify", "diff": diff}
        start = [_snapshot(1, "s-1"), {"sequence": 2, "timestamp": 2, "type": "action", "action": change}]
        start.append(_opened(3, None))
    edits, final = _row_edits(rng, text, len(start) + 1)
    out = _redacted_across_bundles(rng, start + edits, snapshot)
    typed = [e for e in out if e.get("action", {}).get("kind") == "edit"]
    assert all(set(e["action"]["diff"]["text"]) <= {"*", "\n"} for e in typed), f"seed {seed} ({channel})"
    assert replay(typed, _masked_body(text)) == _masked_body(final), f"seed {seed} ({channel})"


@pytest.mark.parametrize("seed", SEEDS[:100])
def test_rows_typed_before_their_begin_line_are_masked_in_every_batch(seed: int) -> None:
    """The body first (typed or pasted in pieces, rows in any order), the BEGIN line last, often
    in a batch beyond the lookahead of the rows' batch. A row is known for a key's once a
    full-width row is next to it, in its batch or the lookahead: batches here are at least 80
    events (a row typed key by key), an upload's segment and lookahead are thousands."""
    rng = random.Random(seed)
    label = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "OPENSSH PRIVATE KEY"])
    block, rows = _key(rng, label)
    if label.startswith("OPENSSH"):  # ssh-keygen's rows are 70 wide
        body = "".join(rows)
        rows = [body[i : i + 70] for i in range(0, len(body), 70)]
        block = f"-----BEGIN {label}-----\n" + "\n".join(rows) + f"\n-----END {label}-----\n"
    text = CODE_ABOVE + block + CODE_BELOW
    lines = _lines(text)
    begin = lines.index(f"-----BEGIN {label}-----\n")
    body = list(range(begin + 1, begin + len(rows) + 1))
    if rng.random() < 0.5:  # in any order, but a full-width row first: the short row alone is no key
        rng.shuffle(body)
        body.remove(begin + len(rows))
        body.insert(rng.randrange(1, len(body) + 1), begin + len(rows))
    order = [*range(begin), *body, *range(begin + len(rows) + 1, len(lines)), begin]
    events = _typed(rng, lines, order)
    out = _redacted_across_bundles(rng, events, {}, gap=80)
    assert replay(out) == _masked(text, rows), f"seed {seed}"


def test_a_certificate_and_base64_of_other_widths_are_not_taken_for_a_key() -> None:
    body = base64.b64encode(random.Random(5).randbytes(200)).decode()
    certificate = "-----BEGIN CERTIFICATE-----\n" + "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    mime = "\n".join(body[i : i + 76] for i in range(0, len(body), 76))
    for text in (certificate + "\n-----END CERTIFICATE-----\n", mime + "\n"):
        assert "private_key" not in {f.category for f in find_secrets(text)}


@pytest.mark.parametrize("seed", SEEDS[:60])
def test_rows_of_a_key_that_another_program_changes_are_masked_in_its_diffs(seed: int) -> None:
    """A file the workspace snapshot holds with a key, changed by other programs: each change is a
    ``file_change`` with a diff of three lines of context, which shows the changed rows without
    the BEGIN line when the key is long enough; the rows it shows, before and after, are masked."""
    rng = random.Random(seed)
    block, _ = _key(rng, rng.choice(["RSA PRIVATE KEY", "OPENSSH PRIVATE KEY"]))
    versions = [CODE_ABOVE + block + CODE_BELOW]
    for _ in range(rng.randrange(1, 5)):
        versions.append(_row_edits(rng, versions[-1], 1)[1])
    events = [_snapshot(1, "s-1")]
    for before, after in itertools.pairwise(versions):
        diff = unified_diff(before, after, "deploy.py")
        if diff is not None:
            change = {"kind": "file_change", "source": "external", "file": FILE, "changeType": "modify", "diff": diff}
            events.append({"sequence": len(events) + 1, "timestamp": 1, "type": "action", "action": change})
    out = _redacted_across_bundles(rng, events, {f"s-1:{FILE}": versions[0]})
    diffs = "\n".join(e["action"]["diff"] for e in out if e["type"] == "action")
    rows = {row for text in versions for row in _body(text)[1] if len(row) >= 6}
    assert not [row for row in rows if row in diffs], f"seed {seed}"
    assert diffs.count("--- a/deploy.py\n+++ b/deploy.py\n@@ -") == len(events) - 1  # every diff is there
