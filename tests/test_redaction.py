"""Redaction of every kind of event: detector, identity, same-length masks, streams, casts."""

from __future__ import annotations

import base64
import random
import re
import string

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdcode_sdk.positions import apply_change, utf16_len
from crowdcode_sdk.redaction import Identity, IdentityMasker, Redactor, detector, find_secrets, patterns
from crowdcode_sdk.redaction.detector import maybe_secret
from crowdcode_sdk.schema import TextChange, decode_event
from tests.fresh_corpus import fresh_rng

ALICE = IdentityMasker(Identity(home="/home/alice", user="alice", host="alice-laptop"))
AWS = "AKIAQYLPMN5HFIQR7XYZ"
GH = "ghp_" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hI6"


def edit(seq: int, offset: int, length: int, text: str, file: str = "/home/alice/proj/app.py") -> dict:
    return {
        "sequence": seq,
        "timestamp": seq,
        "type": "action",
        "action": {
            "kind": "edit",
            "source": "user",
            "file": file,
            "diff": {"rangeOffset": offset, "rangeLength": length, "text": text},
        },
    }


def typing(text: str, start_seq: int = 1, at: int = 0, file: str = "/home/alice/proj/app.py") -> list[dict]:
    events, offset = [], at
    for i, char in enumerate(text):
        events.append(edit(start_seq + i, offset, 0, char, file))
        offset += utf16_len(char)
    return events


def replay(events: list[dict], base: str = "") -> str:
    text = base
    for e in events:
        d = e["action"]["diff"]
        text = apply_change(
            text, TextChange(range_offset=d["rangeOffset"], range_length=d["rangeLength"], text=d["text"])
        )
    return text


def test_benign_code_is_left_alone() -> None:
    code = (
        "def login(user, password):\n    token = make_token(user.id)\n    return check(password, user.hash)\n"
        "x = compute_value(a, b)  # TODO: refactor the authentication flow\n"
    )
    assert find_secrets(code) == []


def test_typed_secret_is_masked_and_the_stream_still_replays() -> None:
    redactor = Redactor(ALICE)
    source = f'# 😀 café\nkey = "{AWS}"\nok = 1\n'
    events = typing(source)
    out = redactor.events(events)
    result = replay(out)
    assert AWS not in orjson.dumps(out).decode()
    assert utf16_len(result) == utf16_len(source)
    assert result == source.replace(AWS, "*" * len(AWS))
    assert redactor.counts["aws"] == 1
    assert all(decode_event(e) for e in out)  # still valid events


def test_secret_typed_then_deleted_is_masked() -> None:
    events = typing(f"t={GH}")
    n = len(events)
    events += [edit(n + 1 + i, len(events) - 1 - i, 1, "") for i in range(len(GH))]
    out = Redactor(ALICE).events(events)
    assert GH not in "".join(e["action"]["diff"]["text"] for e in out)
    assert replay(out) == "t="


def test_secret_pasted_in_the_middle_of_unknown_text() -> None:
    # The file had 100 units before recording started; the edits only reveal what they insert.
    events = [edit(1, 40, 5, f"'{GH}'")]
    out = Redactor(ALICE).events(events)
    assert out[0]["action"]["diff"]["text"] == "'" + "*" * len(GH) + "'"


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 200), st.integers(0, 5), st.sampled_from(["a", "😀", "\n", " ", "é", "xyz"])),
        max_size=30,
    ),
    st.integers(0, 30),
)
def test_random_edits_around_a_secret_keep_every_offset_valid(edits, where) -> None:  # type: ignore[no-untyped-def]
    text = "start\n"
    events = typing(text)
    seq = len(events)
    secret_at = min(where, utf16_len(text))
    seq += 1
    events.append(edit(seq, secret_at, 0, f" {AWS} "))
    text = apply_change(text, TextChange(range_offset=secret_at, range_length=0, text=f" {AWS} "))
    for offset, length, insert in edits:
        offset = min(offset, utf16_len(text))
        length = min(length, utf16_len(text) - offset)
        seq += 1
        events.append(edit(seq, offset, length, insert))
        text = apply_change(text, TextChange(range_offset=offset, range_length=length, text=insert))
    out = Redactor(ALICE).events(events)
    result = replay(out)  # would raise on an offset past the end
    assert utf16_len(result) == utf16_len(text)
    assert all(a == b or b == "*" for a, b in zip(text, result, strict=False))
    assert AWS not in "".join(e["action"]["diff"]["text"] for e in out)


def test_secret_files_are_masked_whole() -> None:
    redactor = Redactor(ALICE)
    events = typing("DEBUG=1\nNAME=demo\n", file="/home/alice/proj/.env")
    events.append(
        {
            "sequence": 100,
            "timestamp": 100,
            "type": "observation",
            "observation": {
                "viewport": {
                    "file": ".env",
                    "startLine": 1,
                    "endLine": 2,
                    "content": "DEBUG=1\nNAME=demo",
                    "cursorPosition": {"line": 0, "character": 0},
                },
                "activeTerminal": None,
            },
        }
    )
    out = redactor.events(events)
    assert replay(out[:-1]) == "*******\n*********\n"
    assert out[-1]["observation"]["viewport"]["content"] == "*******\n*********"
    assert redactor.counts["secret_file"] >= 2


def test_identity_in_paths_and_content() -> None:
    redactor = Redactor(ALICE)
    event = {
        "sequence": 1,
        "timestamp": 1,
        "type": "action",
        "action": {
            "kind": "terminal_command",
            "terminalId": "t1",
            "terminalName": "bash",
            "command": "cat /home/alice/notes.txt && ssh alice@alice-laptop",
            "cwd": "/home/alice/proj",
        },
    }
    (out,) = redactor.events([event])
    assert out["action"]["cwd"] == "~/proj"
    assert out["action"]["command"] == "cat /home/*****/notes.txt && ssh *****@************"
    assert "alice" not in orjson.dumps(redactor.events(typing("by alice\n", file="/srv/alice/x.py"))).decode()
    assert ALICE.path("/srv/alice/x.py") == "/srv/user/x.py"


def test_generic_user_names_are_not_masked_as_words() -> None:
    root = IdentityMasker(Identity(home="/root", user="root", host="localhost"))
    assert root.find("chown root:root file") == []
    assert [m.category for m in root.find("ls /root/x")] == ["home"]


def screen_event(seq: int, rows: list[str], cursor: tuple[int, int] | None = None, cols: int = 20) -> dict:
    terminal = {"id": "t1", "name": "bash", "viewport": rows, "cols": cols, "rows": len(rows)}
    if cursor:
        terminal["cursor"] = {"line": cursor[0], "character": cursor[1]}
    return {
        "sequence": seq,
        "timestamp": seq,
        "type": "observation",
        "observation": {"viewport": None, "activeTerminal": terminal},
    }


def keys(seq: int, data: str) -> dict:
    return {
        "sequence": seq,
        "timestamp": seq,
        "type": "action",
        "action": {"kind": "terminal_input", "source": "user", "terminalId": "t1", "data": data},
    }


def test_wrapped_secret_on_a_terminal_screen() -> None:
    rows = ["$ echo " + GH[:13], GH[13:33], GH[33:] + " done", "$"]
    assert len(rows[0]) == 20 and len(rows[1]) == 20
    (out,) = Redactor(ALICE).events([screen_event(1, rows)])
    masked = out["observation"]["activeTerminal"]["viewport"]
    assert [len(r) for r in masked] == [len(r) for r in rows]
    assert not any(GH[i : i + 8] in "".join(masked) for i in range(len(GH) - 8))


def test_the_user_name_ending_a_full_row_is_masked() -> None:
    """A row filled to its last column is joined to the next (a wrapped token is found whole), but
    a name that ends or starts such a row is a word of its own: `echo "$HOME" "$USER"` printing
    exactly 20 columns, then the prompt, must not show it."""
    rows = ["/home/alice/x  alice", "READY$ echo 12345678", "alice ok", "$ "]
    assert len(rows[0]) == 20 and len(rows[1]) == 20
    (out,) = Redactor(ALICE).events([screen_event(1, rows)])
    assert "alice" not in "".join(out["observation"]["activeTerminal"]["viewport"])


def test_a_secret_typed_across_a_row_end_is_masked_in_earlier_samples() -> None:
    """A screen sampled while a token is typed across the end of a row shows the token's middle
    alone on the next row: not a prefix of the secret, nor its end. Once the secret is known (the
    whole token on a later screen), the sample's rows are masked as the screen shows them, the
    full-width row continued on the next."""
    typing_it = ["$ echo " + GH[:13], GH[13:25], "", "$"]
    whole = ["$ echo " + GH[:13], GH[13:33], GH[33:], "$"]
    out = Redactor(ALICE).events([screen_event(1, typing_it), screen_event(2, whole)])
    shown = "\n".join(row for event in out for row in event["observation"]["activeTerminal"]["viewport"])
    assert not any(GH[i : i + 8] in shown for i in range(len(GH) - 7)), shown


def test_keystrokes_secret_and_password_prompt() -> None:
    events = [keys(i + 1, c) for i, c in enumerate(f"export T={GH}x\x7f\r")]
    events.append(screen_event(100, ["[sudo] password for alice: "], cursor=(0, 28), cols=40))
    events += [keys(101 + i, c) for i, c in enumerate("hunter2\r")]
    events.append(screen_event(200, ["$ "], cursor=(0, 2)))
    events += [keys(201 + i, c) for i, c in enumerate("ls\r")]
    redactor = Redactor(ALICE)
    out = redactor.events(events)
    typed = "".join(e["action"]["data"] for e in out if e["type"] == "action")
    assert GH not in typed and "hunter2" not in typed
    assert typed.endswith("*******\rls\r")
    assert redactor.counts["password_prompt"] >= 1


def test_cast_stream_redaction() -> None:
    rng = random.Random(1)
    output = f"\x1b[1mtoken:\x1b[0m {GH}\r\nPassword: "
    cast = [orjson.dumps({"version": 2, "width": 80, "height": 24, "env": {"HOME": "/home/alice"}})]
    position = 0
    while position < len(output):
        step = rng.randint(1, 5)
        cast.append(orjson.dumps([0.1, "o", output[position : position + step]]))
        position += step
    cast += [orjson.dumps([0.2, "i", c]) for c in "s3cr3t-pw\r"]
    cast.append(orjson.dumps([0.3, "o", "\r\nwelcome alice\r\n"]))
    redacted = Redactor(ALICE).cast(b"\n".join(cast) + b"\n")
    lines = [orjson.loads(line) for line in redacted.splitlines()]
    text = "".join(e[2] for e in lines[1:])
    assert GH not in text and "s3cr3t" not in text and "alice" not in redacted.decode()
    assert lines[0]["env"]["HOME"] == "/home/*****"
    assert len(text) == len(output) + len("s3cr3t-pw\r") + len("\r\nwelcome alice\r\n")


def _fish_answer() -> tuple[int, str]:
    seed, rng = fresh_rng()
    return seed, "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(rng.randint(8, 20)))


def test_keys_at_a_prompt_the_cursor_was_moved_back_to_are_masked_in_the_cast() -> None:
    """fish's ``read -s -P "Password: "`` draws its line, goes back to its start and right to
    where typing goes, and after each key draws a ``●`` and does the same: the text after the
    last carriage return is empty, the text before the cursor is the prompt (with the marks)."""
    seed, answer = _fish_answer()
    cast = [orjson.dumps({"version": 2, "width": 80, "height": 24}), orjson.dumps([0.1, "o", "$ read -s\r\n"])]
    cast.append(orjson.dumps([0.2, "o", "\x1b]0;read ~\x07\rPassword: \x1b[K\r\x1b[10C"]))
    for typed, key in enumerate(answer, 1):
        cast += [orjson.dumps([0.3, "i", key]), orjson.dumps([0.3, "o", f"\u25cf\r\x1b[{10 + typed}C"])]
    cast += [orjson.dumps([0.4, "i", "\r"]), orjson.dumps([0.4, "o", "\r\n$ "])]
    cast += [orjson.dumps([0.5, "i", key]) for key in "ls -la\r"]
    redactor = Redactor(ALICE)
    events = [orjson.loads(line) for line in redactor.cast(b"\n".join(cast) + b"\n").splitlines()[1:]]
    typed = "".join(e[2] for e in events if e[1] == "i")
    assert typed == "*" * len(answer) + "\rls -la\r", f"seed {seed}"
    assert redactor.counts["password_prompt"] >= 1


def test_keys_at_a_prompt_that_echoes_marks_are_masked_after_the_first() -> None:
    """A screen sampled after the first key shows ``Password: ●``: still the prompt, so the keys
    after it are masked too, not only those before the first sample that shows a mark."""
    seed, answer = _fish_answer()
    events = [screen_event(1, ["Password: "], cursor=(0, 10), cols=40), keys(2, answer[0])]
    events.append(screen_event(3, ["Password: \u25cf"], cursor=(0, 11), cols=40))
    events += [keys(4 + i, c) for i, c in enumerate(answer[1:] + "\r")]
    events.append(screen_event(100, ["$ "], cursor=(0, 2), cols=40))
    events += [keys(101 + i, c) for i, c in enumerate("ls\r")]
    out = Redactor(ALICE).events(events)
    typed = "".join(e["action"]["data"] for e in out if e["type"] == "action")
    assert typed == "*" * len(answer) + "\rls\r", f"seed {seed}"


def _agent_response(seq: int, text: str) -> dict:
    action = {"kind": "agent_response", "source": "agent", "agent": "claude", "text": text, "terminalId": "t1"}
    return {"sequence": seq, "timestamp": seq, "type": "action", "action": action}


def test_a_secret_wrapped_in_an_agents_response_is_masked_on_both_rows() -> None:
    """An agent's response is the rows of its screen, joined by newlines: a secret wrapped at the
    terminal's width has its end alone on the next row. Typed in the prompt (so known) or only
    shown by the agent, no part of it may stay, on either row."""
    seed, rng = fresh_rng()
    typed_secret = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(14))
    shown_secret = "ghp_" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(36))
    prompt = f"{'a' * 22} DB_PASSWORD={typed_secret} please"  # its echo wraps 3 characters into the secret
    answer = f"Run: export GITHUB_TOKEN={shown_secret} then retry"
    rows = [line[i : i + 40] for line in (f"> {prompt}", answer) for i in range(0, len(line), 40)]
    assert rows[0].endswith(typed_secret[:3]) and len(rows[0]) == 40
    events = [screen_event(1, ["> "], cursor=(0, 2), cols=40)]
    events += [keys(2 + i, c) for i, c in enumerate(prompt + "\r")]
    events.append(_agent_response(500, "\n".join(rows)))
    (response,) = [e for e in Redactor(ALICE).events(events) if e["sequence"] == 500]
    text = response["action"]["text"]
    assert [len(row) for row in text.split("\n")] == [len(row) for row in rows]  # rows keep their width
    for secret in (typed_secret, shown_secret[4:]):
        assert not any(secret[i : i + 6] in text for i in range(len(secret) - 5)), (seed, text)


@pytest.mark.parametrize(
    "line",
    [
        "postgres://app:Xy9k2LmQ7pRz@db:5432/app",
        'password = "correct-horse-9"',
        "Authorization: Bearer abcDEF123ghiJKL456mnoPQR789",
    ],
)
def test_other_categories(line: str) -> None:
    assert find_secrets(line)


def test_a_secret_cut_by_a_batch_boundary_is_masked_on_both_sides() -> None:
    events = typing(f"key = {GH}\n")
    cut = 6 + 10  # the batch ends ten characters into the token
    redactor = Redactor(ALICE)
    first = redactor.events(events[:cut], lookahead=events[cut:])
    second = redactor.events(events[cut:])
    typed = "".join(e["action"]["diff"]["text"] for e in first + second)
    assert typed == "key = " + "*" * len(GH) + "\n"
    assert redactor.counts["github"] == 1
    # Without the lookahead the first ten characters would have left unmasked.
    alone = Redactor(ALICE).events(events[:cut])
    assert "".join(e["action"]["diff"]["text"] for e in alone).endswith(GH[:10])


def _cast(*events: list) -> bytes:
    header = orjson.dumps({"version": 2, "width": 80, "height": 24})
    return b"\n".join([header, *(orjson.dumps(e) for e in events)]) + b"\n"


def test_cast_shell_integration_marks_are_redacted() -> None:
    """The marks carry the command line and the working directory inside an escape sequence."""
    command = f"export GITHUB_TOKEN={GH}"
    mark = f"\x1b]6973;n0nce;C;{command}\x07\x1b]6973;n0nce;P;/home/alice/proj\x1b\\"
    out = Redactor(ALICE).cast(_cast([0.1, "o", "$ " + mark], [0.2, "o", "done\r\n"]))
    events = [orjson.loads(line) for line in out.splitlines()[1:]]
    text = events[0][2]
    assert GH not in out.decode() and "alice" not in out.decode()
    assert text.startswith("$ \x1b]6973;n0nce;C;export GITHUB_TOKEN=****")
    assert text.endswith("\x07\x1b]6973;n0nce;P;/home/*****/proj\x1b\\")  # terminators kept, same length
    assert len(text) == len("$ " + mark)


def test_cast_exact_bytes_events_are_redacted() -> None:
    """A Latin-1 byte makes the recorder write a "b" event: the exact bytes, base64."""
    raw = b"caf\xe9 token " + GH.encode() + b" on alice-laptop\r\n"
    out = Redactor(ALICE).cast(
        _cast([0.1, "o", raw.decode("utf-8", "replace")], [0.1, "b", base64.b64encode(raw).decode()], [0.2, "x", "0"])
    )
    events = [orjson.loads(line) for line in out.splitlines()[1:]]
    assert [e[1] for e in events] == ["o", "b", "x"]
    exact = base64.b64decode(events[1][2])
    assert len(exact) == len(raw) and exact.startswith(b"caf\xe9 token ****")
    assert GH.encode() not in exact and b"alice" not in exact and GH not in events[0][2]


def test_cast_unknown_event_kinds_do_not_leave() -> None:
    out = Redactor(ALICE).cast(_cast([0.1, "o", "hi"], [0.2, "z", GH], [0.3, "m", f"note {GH}"]))
    assert GH not in out.decode()
    assert [orjson.loads(line)[1] for line in out.splitlines()[1:]] == ["o", "m"]


def test_cast_backspace_fragmented_echo() -> None:
    """readline echoes a typo fixed with Backspace as ``X\\b\\x1b[K``: the token is cut in the
    stream but whole on the screen."""
    echoes = [*"$ export T=", *GH[:20], "Q", "\b\x1b[K", *GH[20:30], "Z", "\b \b", *GH[30:], "\r\n"]
    out = Redactor(ALICE).cast(_cast(*[[0.1, "o", echo] for echo in echoes]))
    shown = [orjson.loads(line)[2] for line in out.splitlines()[1:]]
    assert len(shown) == len(echoes)
    assert "".join(shown) == "$ export T=" + "*" * 20 + "Q\b\x1b[K" + "*" * 10 + "Z\b \b" + "*" * 10 + "\r\n"


def test_cast_echo_of_a_fix_in_the_middle_of_the_line() -> None:
    """A typo in the middle of a token, fixed with Left arrows and Backspace: readline moves back
    (``\\b`` for each Left), deletes, draws the rest of the line again and moves back over it, so
    the token's tail is whole only before those Backspaces, never at the line's end."""
    tail = GH[20:]
    back = "\b" * len(tail)
    echoes = ["$ export T=" + GH[:20] + "Q" + tail, back, "\b\x1b[1P" + tail + back, "\r\n"]
    out = Redactor(ALICE).cast(_cast(*[[0.1, "o", echo] for echo in echoes]))
    shown = "".join(orjson.loads(line)[2] for line in out.splitlines()[1:])
    assert not any(GH[i : i + 8] in shown for i in range(len(GH) - 7)), shown


def test_cast_redraw_of_a_wrapped_line_after_a_fix_in_its_middle() -> None:
    """A command line longer than the terminal's width, two characters put back in the middle of
    a token: readline goes up into the row before (``\\r\\x1b[A``, then right), back to the key,
    and draws the rest of the line, the token's end alone. The session's commands (scanned before
    its cast) made the secret known, and its end is masked there."""
    command = {"kind": "terminal_command", "source": "user", "terminalId": "t1", "command": f"echo {GH}"}
    redactor = Redactor(ALICE)
    redactor.events([{"sequence": 1, "timestamp": 1, "type": "action", "action": command}])
    echoes = [
        "$ echo " + GH[:10] + GH[12:],
        "\b" * 5 + "\r\x1b[A" + "\x1b[C" * 19,
        "\b" * 8,
        GH[10:] + "\x1b[A\x1b[C",
        "\r\n",
    ]
    out = redactor.cast(_cast(*[[0.1, "o", echo] for echo in echoes]))
    shown = "".join(orjson.loads(line)[2] for line in out.splitlines()[1:])
    assert not any(GH[i : i + 8] in shown for i in range(len(GH) - 7)), shown


@pytest.mark.parametrize(
    "echoes",
    [
        # bash: readline wraps a typed line with " \r"; a typo on the second row, fixed with Left
        # and Backspace, is deleted there and the rest drawn again, then back with \r and right
        [
            "$ echo " + GH[:13],
            " \r" + GH[13:24] + "Q" + GH[24:],
            "\b" * 16,
            "\b\x1b[1P" + GH[24:] + "\r" + "\x1b[C" * 11,
        ],
        # fish: back to the row's start and right to the key, then the rest, then up (reverse index)
        ["$ echo " + GH[:13], GH[13:24] + GH[26:], "\r\x1b[11C", GH[24:] + "\x1bM\r\x1b[13C"],
    ],
    ids=["bash", "fish"],
)
def test_cast_redraw_after_moving_the_cursor_within_a_row(echoes: list[str]) -> None:
    """Shells move the cursor to a key typed or deleted in the middle of a wrapped command line
    with a carriage return and cursor movements, then draw the rest: the secret's end alone."""
    command = {"kind": "terminal_command", "source": "user", "terminalId": "t1", "command": f"echo {GH}"}
    redactor = Redactor(ALICE)
    redactor.events([{"sequence": 1, "timestamp": 1, "type": "action", "action": command}])
    out = redactor.cast(_cast(*[[0.1, "o", echo] for echo in [*echoes, "\r\n"]]))
    shown = "".join(orjson.loads(line)[2] for line in out.splitlines()[1:])
    assert not any(GH[i : i + 8] in shown for i in range(len(GH) - 7)), shown


def _viewport(seq: int, content: str) -> dict:
    viewport = {"file": "/home/alice/proj/app.py", "startLine": 1, "endLine": 1, "content": content}
    return {"sequence": seq, "timestamp": seq, "type": "observation", "observation": {"viewport": viewport}}


def test_a_secret_found_once_is_masked_in_earlier_samples_and_later_text() -> None:
    """An editor sampled while the key is typed shows its prefixes; none of ≥ 6 characters
    leaves once the whole key is found, nor the key shown again later, bare."""
    events: list[dict] = []
    for i, event in enumerate(typing(f"k = '{GH}'\n")):
        events.append(event)
        typed = f"k = '{GH}'\n"[: i + 1]
        if i % 7 == 0:
            events.append(_viewport(1000 + i, typed.rstrip("\n")))
    events.sort(key=lambda e: e["sequence"] if e["type"] == "action" else e["sequence"] - 1000 + 0.5)
    for n, event in enumerate(events):
        event["sequence"] = n + 1
    redactor = Redactor(ALICE)
    out = redactor.events(events)
    later = redactor.events([screen_event(len(events) + 1, [f"the key was {GH[:30]}", "ok"], cols=80)])
    shown = [e["observation"]["viewport"]["content"] for e in out if e["type"] == "observation"]
    assert len(shown) >= 6
    for content in shown:
        assert not any(GH[:n] in content for n in range(6, len(GH) + 1)), content
    assert shown[1] == "k = 'ghp" and shown[2] == "k = '" + "*" * 10  # under 6 characters is no secret
    assert later[0]["observation"]["activeTerminal"]["viewport"][0] == "the key was " + "*" * 30
    scrolled = redactor.events([screen_event(len(events) + 2, [GH[25:], "$ ls"], cols=80)])  # its head scrolled off
    assert scrolled[0]["observation"]["activeTerminal"]["viewport"] == ["*" * (len(GH) - 25), "$ ls"]
    assert redactor.counts["github"] == 1 and "known_secret" not in redactor.counts


def _detector_cases() -> list[tuple[str, re.Pattern[str], int]]:
    """Every regex a detector finds a secret with, as long as the detector wants it (the entropy
    plugins' quoted values from 16 characters on), with the detector's index."""
    cases = [(rule.source, rule.regex, index) for index, rule in enumerate(patterns.RULES)]
    for index, (_category, plugin) in enumerate(patterns.PLUGINS, start=len(patterns.RULES)):
        cases += [(type(plugin).__name__, regex, index) for regex in plugin.denylist]
    cases.append(("assignment", patterns.ASSIGNMENT, detector._ASSIGNMENT_INDEX))
    keyword = [regex for denylist in detector._KEYWORD_MAPS for regex in denylist]
    cases += [("detect-secrets keyword", regex, detector._KEYWORD_INDEX) for regex in keyword]
    for plugin in detector._ENTROPY_PLUGINS:
        wanted = re.compile(plugin.regex.pattern.replace("]+)", "]{16,})"))
        cases.append((type(plugin).__name__, wanted, detector._ENTROPY_INDEX))
    return [*cases, ("TOKEN", patterns.TOKEN, detector._TOKEN_INDEX)]


@pytest.mark.parametrize(("source", "regex", "index"), _detector_cases(), ids=lambda v: str(v)[:30])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_a_detector_is_skipped_only_when_its_regex_cannot_match(source, regex, index, data) -> None:  # type: ignore[no-untyped-def]
    """Text a detector's regex matches (drawn from the regex itself, within random text, Unicode
    digits and spaces included) always meets the detector's condition: skipping the detector on
    a line, or a whole chunk of terminal output, where its condition finds nothing loses nothing."""
    matching = data.draw(st.from_regex(regex, fullmatch=False), label=source)
    assert regex.search(matching)
    assert index in detector.detectors(matching), (detector._CONDITIONS[index], matching)
    assert index in detector.detectors(f"ok\r\n{matching}\r\n3 passed")  # within a chunk


@pytest.mark.parametrize(
    "line",
    [
        "    17 src/app/module_17.py: 3 passed in 0.7s",
        "       7 ok  49 ms",
        'user = lookup_user(event["userId"])',
        "PASSED tests/test_app.py::test_reset_flow[sqlite]",
        "Compiling serde_json v1.0.108",
        "mysql-1  | 2026-12-05T04:00:00.120Z 0 [System] [MY-010931] mysqld: ready for connections.",
        'mongo-1  | {"t":{"$date":"2026-12-05T04:00:00.120Z"},"s":"I","msg":"Connection accepted"}',
        "docker compose up -d --build",
        "  adding: build/app.zip (deflated 40%)",
        "openssl rsa -in key.pem -passin env:KEY_PASS -noout",
    ],
)
def test_the_gate_rejects_lines_that_cannot_hold_a_secret(line: str) -> None:
    """Test output with paths and "passed", code without a secret-sounding assignment, a
    service's log lines under ``docker compose`` (its name heads each), commands that name a
    program with a password option and give none: no detector runs on them (a word like
    ``pass``, a path of 16 characters or a program's name alone no longer lets them through)."""
    assert not maybe_secret(line)


_LOG_FIELDS = st.sampled_from(
    ["auth", "AUTH", "Token", "x_token", "db.password", "Secret_Key", "api-key", "xtoken", "tokens", "dsn", "pwd"]
)
_SIGNS = st.sampled_from([":", ": ", "=", " = ", "=>", ":=", "\t:\t", '": ', "' = ", ":\x1f", ":\n "])
_VALUE_CHARS = string.ascii_letters + string.digits + "_-./()[]{}$%*<>=:+@!'\"`,;# \t\x1f"
_WORDS = st.from_regex(patterns.WORD_VALUE, fullmatch=True)
_VALUES = st.one_of(
    _WORDS,
    st.builds(lambda w, i, c: w[:i] + c + w[i:], _WORDS, st.integers(0, 16), st.sampled_from("0_-./$*(AZ")),
    st.from_regex(r"[a-z]{15,17}", fullmatch=True),
    st.text(_VALUE_CHARS, max_size=24),
    st.builds(lambda q, v: q + v + q, st.sampled_from("\"'"), st.text(_VALUE_CHARS, max_size=12)),
    st.sampled_from([GH, AWS, "hunter2!x", "${DB_PASSWORD}", "get_password()", "userPasswordHash"]),
    st.just("aicgalplazgwbkwh"),  # letters only, but base64 of printable text: a k8s secret's form
)
_ASSIGNMENTS = st.builds(
    "".join, st.tuples(st.text('ab_ .-"', max_size=3), _LOG_FIELDS, _SIGNS, _VALUES, st.text(" ,;#x9", max_size=3))
)
_LOG_LINES = st.one_of(
    _ASSIGNMENTS,
    st.builds(lambda a, b: f"12:0{len(a) % 10}:07 INFO {a} refreshed {b}", _ASSIGNMENTS, _ASSIGNMENTS),
    st.text(string.printable, max_size=30),
    st.text(max_size=12),  # beyond ASCII
)
_BREAKS = st.sampled_from(["\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028"])


@settings(max_examples=600, deadline=None)
@given(lines=st.lists(st.tuples(_LOG_LINES, _BREAKS), min_size=1, max_size=8))
def test_lines_passed_in_bulk_hold_nothing_any_line_scan_finds(lines: list[tuple[str, str]]) -> None:
    """Where :func:`.detector.may_find` lets many lines pass at once (the assignment detector's
    condition met, every value one word), scanning them as one text, one line after another
    (``str.splitlines``) or as terminal output's lines (cut at CR and LF) finds nothing."""
    text = "".join(line + brk for line, brk in lines)
    if detector.may_find(text):
        return
    assert find_secrets(text) == []
    assert all(find_secrets(line) == [] for line in re.split("[\r\n]", text))


@settings(max_examples=300, deadline=None)
@given(value=st.from_regex(patterns.WORD_VALUE, fullmatch=True))
def test_a_word_value_is_never_a_secret(value: str) -> None:
    assert not patterns.assignment_value_is_secret(value, quoted=False)
    assert find_secrets(f"auth: {value}") == []


def test_log_lines_with_a_secret_sounding_field_pass_in_bulk() -> None:
    """The common case lets a whole chunk pass; a field's value that is not one word keeps it."""
    logs = "".join(f"\x1b[36m12:{i % 60:02}\x1b[0m INFO auth: session {i} refreshed in 0.{i}s\r\n" for i in range(50))
    plain = re.sub("\x1b\\[[0-9]*m", "", logs)
    assert maybe_secret(plain) and not detector.may_find(plain)
    for field in ("auth: hunter2secret", "auth: 'session'", "auth: SessionID", "token=abcdefghijklmnop"):
        assert detector.may_find(plain + field + "\r\n"), field


def test_a_word_changed_anywhere_is_left_to_the_line_scan() -> None:
    """A character that is no small letter, put in or over a plain word at every position: where
    the line scan finds the value a secret, the chunk is not passed in bulk."""
    found = 0
    for word in ("session", "Refreshed", "abcdefghijklmno", "aicgalplazgwbkwh"):
        for i in range(len(word) + 1):
            for c in "0_-./$*(AZ":
                for value in (word[:i] + c + word[i:], word[:i] + c + word[i + 1 :]):
                    text = f"12:00:07 INFO auth: {value} refreshed\r\n"
                    if find_secrets(text):
                        found += 1
                        assert detector.may_find(text), value
    assert found > 500


def test_a_secret_among_the_log_lines_of_one_chunk_is_masked() -> None:
    """The lines around a line that holds a secret pass whole; that line alone is masked."""
    logs = [f"\x1b[36m12:{i:02}\x1b[0m INFO auth: session {i} refreshed\r\n" for i in range(60)]
    for i in (0, 31, 59):
        logs[i] = f"\x1b[33m12:{i:02}\x1b[0m WARN token={GH[:-2]}{i:02}\r\n"
    output = "".join(logs)
    header = orjson.dumps({"version": 2, "width": 80, "height": 24})
    redactor = Redactor(ALICE)
    redacted = orjson.loads(redactor.cast(header + b"\n" + orjson.dumps([0.1, "o", output]) + b"\n").splitlines()[1])
    assert redacted[2] == re.sub(re.escape(GH[:-2]) + "[0-9]{2}", "*" * len(GH), output)
    assert redactor.counts["github"] == 3


class _PieceByPiece(Redactor):
    """Terminal output never passed whole: every line scanned as its pieces arrive."""

    def may_hold(self, text: str) -> bool:
        return True

    def lines_may_hold(self, text: str) -> bool:
        return True


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(st.tuples(_LOG_LINES, st.sampled_from(["\r\n", "\n", "\r"])), min_size=1, max_size=40),
    colours=st.lists(st.sampled_from(["", "\x1b[36m", "\x1b[0m", "\x1b]0;auth: title\x07"]), min_size=1),
    cuts=st.lists(st.integers(1, 400), min_size=1),
)
def test_cast_output_passed_in_bulk_is_redacted_as_piece_by_piece(
    lines: list[tuple[str, str]], colours: list[str], cuts: list[int]
) -> None:
    """The same cast, redacted with runs of lines passed whole (a chunk, or the lines around one
    that may hold something) and piece by piece: the same bytes and the same counts."""
    output = "".join(colours[i % len(colours)] + line + brk for i, (line, brk) in enumerate(lines))
    events, position = [orjson.dumps({"version": 2, "width": 80, "height": 24})], 0
    for i in range(len(output)):
        if position >= len(output):
            break
        step = cuts[i % len(cuts)]
        events.append(orjson.dumps([i / 10, "o", output[position : position + step]]))
        position += step
    cast = b"\n".join(events) + b"\n"
    bulk, piece_by_piece = Redactor(ALICE), _PieceByPiece(ALICE)
    assert bulk.cast(cast) == piece_by_piece.cast(cast)
    assert bulk.counts == piece_by_piece.counts


def test_a_kubernetes_value_of_letters_only_is_not_taken_for_a_name() -> None:
    """base64 of a random secret may hold no digit and split into word-like pieces, as a name in
    code does (``WHVOYkJxcjduTjZVWXkzVWFM`` leaked so from the Neovim TUI test, seed 2267224510)."""
    rng = random.Random(0)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    drawn = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(12, 40))) for _ in range(2000)]
    values = ["WHVOYkJxcjduTjZVWXkzVWFM", *(base64.b64encode(s.encode()).decode() for s in drawn)]
    missed = [v for v in values if [(f.start, f.end) for f in find_secrets(f"  api-key: {v}")] != [(11, 11 + len(v))]]
    assert not missed
    for name in ("userPasswordHash", "DatabasePassword", "AccessTokenValue", "getDatabasePasswordFromEnvironment"):
        assert find_secrets(f"password = {name}") == []  # a name stays a name


def test_a_path_of_names_is_no_key_material() -> None:
    """Paths that build output and test runners print, long and without an extension, are not
    masked; random base64 with its ``/`` never reads as one."""
    for path in (
        "src/components/UserProfileCardHeader/index_40",
        "packages/design-system/src/ButtonGroupItem/styles_2",
        "tests/integration/TestUploadResumesAfterNetworkError/case_12",
    ):
        assert find_secrets(path) == [] and find_secrets(f"  {path}: 3 passed in 0.4s") == []
    rng = random.Random(7)
    tokens = [base64.b64encode(rng.randbytes(rng.randrange(24, 64))).decode() for _ in range(5000)]
    assert not any(patterns._path_of_names(token) for token in tokens if "/" in token)
    assert find_secrets("aws_secret = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


OPTION_FORMS = [
    "mysql -u root -p{s} -h db.internal shop",
    "mysql -uroot -p'{s}' shop",
    'mariadb-dump -u backup -p"{s}" shop',
    "mysqladmin --password={s} status",
    "sshpass -p {s} ssh deploy@10.0.0.5",
    "sshpass -p{s} ssh -p 2222 deploy@host",
    "sshpass -v -p '{s}' scp a host:",
    "docker login -u ci -p {s} registry.example.com",
    "docker login --username=ci --password={s}",
    "podman login -u ci --password {s} quay.io",
    "htpasswd -b .htpasswd admin {s}",
    "htpasswd -bc /etc/nginx/.htpasswd admin {s}",
    "htpasswd -nbB admin {s} > users",
    "openssl enc -aes-256-cbc -pbkdf2 -in a.tar -out a.enc -pass pass:{s}",
    "openssl pkcs12 -export -in c.pem -passout pass:{s} -out c.p12",
    "openssl rsa -in key.pem -passin 'pass:{s}'",
    "openssl enc -d -aes-256-cbc -k {s} -in a.enc",
    "smbclient //files/share -U alice%{s} -c ls",
    "rpcclient --user=CORP/alice%{s} dc1",
    "redis-cli -h cache.internal -a {s} ping",
    "valkey-cli --pass {s} info",
    "mongosh -u admin -p {s} --authenticationDatabase admin",
    "mongodump --username admin --password={s} --out dump",
    "wget --user=bob --password={s} https://files.example.com/a.tgz",
    "wget --http-password={s} https://files.example.com/a.tgz",
    "kubectl --token {s} get pods",
    "kubectl get pods --token={s}",
    "curl --oauth2-bearer {s} https://api.example.com/me",
    "curl -U proxy:{s} -x proxy.internal:3128 https://example.com",
    "curl --proxy-user proxy:{s} https://example.com",
    "stripe --api-key {s} customers list",
    "./deploy.sh --env prod --secret {s}",
    "az ad app credential reset --id 1 --client-secret '{s}'",
    "keytool -genkeypair -alias app -keystore app.jks -storepass {s} -dname CN=app",
    "keytool -importkeystore -srckeystore a.p12 -srcstorepass '{s}' -destkeystore b.jks",
    "ldapsearch -x -H ldaps://dc1 -D cn=admin,dc=example -w {s} -b dc=example",
    "zip -r -P {s} backup.zip src",
    "unzip -P '{s}' backup.zip",
    "7z a -p{s} -mhe=on backup.7z src",
    "sqlcmd -S db.internal -U sa -P {s} -Q 'select 1'",
    "xfreerdp /v:10.0.0.5 /u:admin /p:{s}",
    "gpg --batch --passphrase {s} --symmetric notes.txt",
    'echo "db.internal:5432:app:app:{s}" >> ~/.pgpass',
    "echo 'db.internal:6000:*:app:{s}' > /home/alice/.pgpass",
    "*:5432:*:postgres:{s}",
    "[::1]:6432:pgbouncer:app:{s}",
    "lftp -u deploy,{s} ftp.example.com",
    "lftp -u 'deploy,{s}' -e 'mirror -R site /www' sftp://files.internal",
    "lftp :~> open -u deploy,{s} ftp.example.com",
    "az login -u alice@example.com -p {s}",
    "az login --service-principal -u 2f1c7e04-ci --password {s} --tenant contoso.example",
    "az login --service-principal --username 9f3e --password='{s}' --tenant t1",
    "smbclient //files/share {s} -U alice -c ls",
    "smbclient '//files/share' {s} -W CORP -U alice",
    "sshpass -P assword -p {s} ssh deploy@10.0.0.5",
    "sshpass -P 'Enter passphrase' -v -p'{s}' ssh deploy@host",
]


def test_passwords_given_as_a_programs_option_are_found() -> None:
    """Each documented form (patterns.py names where), with a value drawn afresh: the value is
    found from its first character, quoted or not. (detect-secrets' keyword plugin takes the rest
    of a line after ``--password=`` with it; only that finding runs past the value.)"""
    seed, rng = fresh_rng()
    alphabet = string.ascii_letters + string.digits
    missed = []
    for form in OPTION_FORMS:
        secret = rng.choice(string.ascii_letters) + "".join(rng.choice(alphabet) for _ in range(rng.randrange(7, 24)))
        line = form.format(s=secret)
        start = line.index(secret)
        found = find_secrets(line)
        end = len(line) if "password=" in line else start + len(secret)
        if len(found) != 1 or found[0].start != start or not start + len(secret) <= found[0].end <= end:
            missed.append((line, find_secrets(line)))
    assert not missed, f"seed {seed}: {missed}"


WORD_FORMS = [
    "cli --token {w}",
    "cli --password {w}",
    "$ kubectl get pods --token {w} -n prod",
    "gpg --batch --passphrase {w} --symmetric notes.txt",
    "curl --oauth2-bearer {w} https://api.example.com/me",
    "stripe --api-key={w} customers list",
    "mysqldump -u backup --password={w} shop",
    "echo ok && ./deploy.sh --env prod --secret {w} | tee log",
    "sudo -u ci wget --user=bob --password {w} https://files.example.com/a.tgz",
    "  --token {w} \\",
    "-t, --token {w}",
    "docker exec app cli --token {w}",
    "mysql -u root --password shop | cli --password {w}",
    "lftp -u deploy,{w} ftp.example.com",
    "az login -u alice@example.com -p {w}",
    "smbclient //files/share {w} -U alice",
    "sshpass -P assword -p {w} ssh deploy@host",
]


def test_a_plain_word_is_the_secret_where_an_option_says_so() -> None:
    """A long option named like a secret (and each program's password option) takes one plain
    word as its value too (``--password hunterpass``), lowercase or capitalised, drawn afresh."""
    seed, rng = fresh_rng()
    missed = []
    for form in WORD_FORMS:
        word = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randrange(4, 16)))
        word = word.capitalize() if rng.random() < 0.3 else word
        line = form.format(w=word)
        start = line.index(word)
        end = len(line) if "password=" in line else start + len(word)
        found = find_secrets(line)
        if len(found) != 1 or found[0].start != start or not start + len(word) <= found[0].end <= end:
            missed.append((line, [line[f.start : f.end] for f in found]))
    assert not missed, f"seed {seed}: {missed}"


@pytest.mark.parametrize(
    "line",
    [
        "  --token TOKEN         the API token",
        "  -p, --password PASSWORD   the password to log in with",
        "  --client-secret CLIENT_SECRET",
        "usage: tool [-h] [--token TOKEN] [--api-key API_KEY] [--password=TEXT]",
        "      --token string                   Bearer token for authentication to the API server",
        "  -t, --token string\tthe API token",
        "  --passphrase value    passphrase for the key",
        "mysql -u root --password shop",
        "sudo /usr/bin/mysqldump --password shop > shop.sql",
        "mariadb-dump --password shop",
        "docker run --secret dbpass --rm app --verbose",
        "tool --password changeme",
        "tool --password=CHANGEME",
        'tool --password ""',
        'tool --password "${DB_PASSWORD}"',
        "tool --password $DB_PASSWORD",
        "tool --token <token>",
        "tool --password '***'",
        "tool --password ***",
        "lftp -u deploy ftp.example.com",
        'lftp -u "$FTP_USER,$FTP_PASS" ftp.example.com',
        "lftp -u deploy, ftp.example.com",
        "az login",
        "az login -u alice@example.com",
        "az login --service-principal -u ci -p $AZURE_CLIENT_SECRET --tenant t1",
        "az webapp up -p 8080",
        "smbclient //files/share -U alice -c ls",
        "smbclient //files/share -N",
        "smbclient -L //files -U alice",
        "smbclient //files/share < commands.txt",
        "smbclient //files/share 2>/dev/null -N",
        "sshpass -P assword -f ~/.pw ssh deploy@host",
        "sshpass -P assword -e ssh deploy@host",
    ],
)
def test_a_metavariable_placeholder_or_prompt_is_no_password(line: str) -> None:
    """A --help text's value (upper case, or a word with its description after two spaces),
    mysql's ``--password`` before its database, placeholders and prompts: none is masked."""
    assert find_secrets(line) == [], [line[f.start : f.end] for f in find_secrets(line)]


def test_a_number_is_a_password_where_the_program_says_so() -> None:
    for line in ("redis-cli -h 10.0.0.1 -p 6379 -a 123456 ping", "mysql -uroot -p123456", "sshpass -p 2024 ssh h"):
        assert [line[f.start : f.end] for f in find_secrets(line)] in (["123456"], ["2024"]), line


@pytest.mark.parametrize(
    "line",
    [
        "ssh -p 22 deploy@host",
        "docker run -p 8080:80 nginx",
        "mkdir -p build/dist && cp -p a.txt build/",
        "grep -P 'a\\d+' app.log",
        "python -m pip install -U requests",
        "mysql -p",
        "mysql -u root -p shop",
        "mysql -u root -p --host db.internal",
        'mysql -u root -p"$MYSQL_PASSWORD" shop',
        "mysql --password shop",
        "sshpass -f ~/.pw ssh -p 2222 host",
        "sshpass -e ssh -p 2222 host",
        "docker login -u ci --password-stdin < token.txt",
        "docker login -u ci --password $REGISTRY_PASSWORD",
        "vault login --token-file /run/secrets/vault",
        "gh api --token-file ./token user",
        "kubectl --token=${TOKEN} get pods",
        "tool --token <token> --api-key /etc/keys/api.key",
        "docker build --secret id=npmrc,src=.npmrc --secret id=aws,env=AWS_TOKEN .",
        "podman run --secret mysecret,type=env,target=DB_PASSWORD app",
        "podman run --secret dbpass app",
        "tool --password 8080 --api-key /etc/keys/api.key",
        "redis-cli -p 6379 ping",
        "mongosh -u admin -p --authenticationDatabase admin",
        "htpasswd -c .htpasswd admin",
        "htpasswd -B .htpasswd admin",
        "openssl rsa -in key.pem -passin env:KEY_PASS -passout file:/run/pw",
        "openssl req -new -key key.pem -keyout out.pem",
        "ps -U root -o %cpu,%mem",
        "docker run -u 1000:1000 -it ubuntu bash",
        "podman exec --user 0:0 app id",
        "keytool -list -keystore app.jks -storepass:env STOREPASS",
        "ldapsearch -x -W -D cn=admin,dc=example -b dc=example",
        "ldapmodify -x -y /run/secrets/ldap -f change.ldif",
        "curl -s ldaps://dc1/ -w '%{http_code}'",
        "zip -r archive.zip src && unzip -o archive.zip",
        "7z x backup.7z -p",
        "gpg --batch --passphrase-file pw.txt --symmetric notes.txt",
        "sqlcmd -S db.internal -E -Q 'select 1'",
        "root:x:0:0:root:/root:/bin/bash",
        "2001:db8:0:0:1:0:0:1",
        "12:54:33.120 worker:5432:ready:yes:/var/run/pg",
    ],
)
def test_options_that_are_no_password_are_left_alone(line: str) -> None:
    """A port, a path, a flag, a shell variable, a prompt for the password, a database name, an
    ``/etc/passwd`` line: none is masked."""
    assert find_secrets(line) == [], [line[f.start : f.end] for f in find_secrets(line)]
