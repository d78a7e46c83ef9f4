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
import random

import orjson
import pytest

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
