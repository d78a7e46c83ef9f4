"""End to end through a real `crowdcode shell`: fake secrets drawn afresh, typed as commands
(so that they sit in the shell-integration marks too), printed with a Latin-1 byte (so that the
cast gets exact-bytes events), answered at a raw-mode prompt; uploaded to a real `crowdcode
serve` on 127.0.0.1; every stored bundle unpacked and searched for every secret, every 8-character
fragment of one, the home path and the user name."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import orjson
from shell_helpers import CROWDCODE, PROMPT, committed, live_entry, only_session, recorded

from crowdcode_sdk.upload import read_bundle
from tests.conftest import wait_for
from tests.fresh_corpus import PROGRAMS, fresh_rng, secrets
from tests.privacy_e2e import member_texts
from tests.privacy_support import as_user, assert_nothing_leaked, configure, upload_now
from tests.tmux_pane import Pane

STUBS = tuple(f"{program}() {{ :; }}" for program in PROGRAMS)
"""The programs the corpus' lines call, as shell functions that do nothing: each line is typed and
recorded as the real command line, and no database, registry or network is reached."""


def _a_command(line: str) -> bool:
    """Whether the corpus line is typed as the command it is (not as a comment)."""
    return line.startswith(("export ", "curl ", "PGPASSWORD=", "echo ")) or line.split(" ", 1)[0] in PROGRAMS


LEFT = "\x1b[D"
BACKSPACE = "\x7f"


def test_no_secret_or_identity_leaves_a_real_shell(shell, home: Path, tmp_path: Path, monkeypatch, serve) -> None:  # type: ignore[no-untyped-def]
    url, store = serve
    bashrc = (Path(os.environ["HOME"]) / ".bashrc").read_text()
    me = as_user(tmp_path, monkeypatch)
    (me / ".bashrc").write_text(bashrc)
    seed, rng = fresh_rng()
    samples = [(c, s, line) for c, s, line in secrets(rng) if "\n" not in line]
    printed = me / "notes.txt"
    printed.write_bytes(b"caf\xe9\n" + "\n".join(line for _, _, line in samples).encode() + b"\n")
    # The workspace: a git working tree (what `crowdcode shell` captures) with a file that holds
    # secrets when the session starts (its snapshot) and gets more from another program (a
    # file_change with a diff), never shown in the terminal.
    in_files = [(c, s, line) for c, s, line in secrets(rng) if "\n" not in line]
    half = len(in_files) // 2
    settings = me / "settings.py"
    settings.write_text("".join(f"{line}\n" for _, _, line in in_files[:half]))
    committed(me, "settings.py")

    s = shell(cwd=me)
    s.prompt()
    live_entry(lambda entry: True)  # the recorder runs in its own process: its session is a moment behind
    info = only_session()

    # the start snapshot first: a change after it is a file_change
    wait_for(lambda: recorded(info, "workspace_snapshot"), 30, what="the workspace's start snapshot")
    with open(settings, "a") as f:  # another program, not the terminal
        f.write("".join(f"{line}\n" for _, _, line in in_files[half:]))
    wait_for(lambda: recorded(info, "file_change"), 30, what="the other program's change")
    s.run('echo "$HOME" "$USER"')
    s.run("set +H")  # no history expansion of the `!` in passwords
    s.run("; ".join(STUBS))
    for _category, _secret, line in samples:
        if not line.lstrip().startswith("password "):  # a .netrc line is a file's, printed below
            s.run(line if _a_command(line) else f"# {line}")
    s.run(f"cat {printed.name}")
    s.child.sendline('read -s -n 12 -p "Enter PIN: " p; echo " got ${#p}"')
    s.child.expect_exact("Enter PIN: ")
    pin = "".join(rng.choice("0123456789") for _ in range(12))
    s.child.send(pin)
    s.child.expect_exact("got 12")
    s.prompt()
    s.child.sendline("exit")
    assert s.finish() == 0
    only_session(ended=True)

    everything = _uploaded(url, store)
    assert "***" in everything  # what was found is masked, not dropped
    assert '"kind":"file_change"' in everything and "settings.py" in everything
    assert_nothing_leaked(everything, samples + in_files, me, seed)
    assert pin not in everything, f"seed {seed}"
    print(f"seed {seed}: {len(samples)} secrets, none left", file=sys.stderr)


def _uploaded(url: str, store: Path) -> str:
    """Consent, no hold-back, the real `crowdcode upload --now` to ``url``: every member of every
    bundle the server stored in ``store``, as one text to search."""
    from crowdcode_sdk.locations import Locations

    configure(Locations.default(), **{"consent.status": "accepted", "upload.url": url, "privacy.hold_back_s": 0})
    upload_now()
    texts = []
    for path in sorted(store.rglob("*.tar.zst")):
        bundle = read_bundle(path.read_bytes())
        texts.append(orjson.dumps(bundle.manifest).decode())
        texts += member_texts(bundle.members)
    assert texts, "nothing reached the server"
    return "\n".join(texts)


def test_secrets_fixed_in_the_middle_of_the_line_do_not_leave(
    shell, home: Path, tmp_path: Path, monkeypatch, serve
) -> None:  # type: ignore[no-untyped-def]
    """A key typed or deleted in the middle of the line makes readline draw the rest of the line
    again and move back over it with Backspaces, so the secret's tail is on the terminal only for
    a moment: a typo fixed with Left and Backspace, and two characters put back where they were
    left out. Neither the echo nor anything else may show a fragment of the secret. At 80
    columns some lines wrap: readline then moves the cursor across rows to redraw them."""
    url, store = serve
    bashrc = (Path(os.environ["HOME"]) / ".bashrc").read_text()
    me = as_user(tmp_path, monkeypatch)
    (me / ".bashrc").write_text(bashrc)
    seed, rng = fresh_rng()
    samples = [(c, s, line) for c, s, line in secrets(rng) if _a_command(line)]
    assert len(samples) >= 4 and any(len(line) > 80 for _, _, line in samples)
    s = shell(cwd=me)
    s.prompt()
    s.run("set +H")
    s.run("; ".join(STUBS))
    for number, (_category, secret, line) in enumerate(samples):
        cut = line.index(secret) + len(secret) // 2
        after = len(line) - cut
        if number % 2:  # two characters left out, then put back
            s.child.send(line[:cut] + line[cut + 2 :] + LEFT * (after - 2) + line[cut : cut + 2] + "\r")
        else:  # a typo in the middle, fixed from the end of the line
            s.child.send(line[:cut] + "Q" + line[cut:] + LEFT * after + BACKSPACE + "\r")
        s.prompt()
    s.child.sendline("exit 0")  # curl's status is not this test's
    assert s.finish() == 0
    only_session(ended=True)
    assert_nothing_leaked(_uploaded(url, store), samples, me, seed)


def test_passwords_typed_as_options_in_tmux_do_not_leave(
    user_home: Path, home: Path, tmp_path: Path, monkeypatch, serve
) -> None:  # type: ignore[no-untyped-def]
    """`crowdcode shell` in a tmux pane, each password or token given as a program's option typed
    into it key by key with send-keys, one command line after the prompt of the one before (the
    programs are shell functions that do nothing): the lines are recorded as the commands they
    are, and no fragment of a value reaches the server in any of the session's streams, the
    screens sampled while a value was half typed included."""
    url, store = serve
    bashrc = (Path(os.environ["HOME"]) / ".bashrc").read_text()
    me = as_user(tmp_path, monkeypatch)
    (me / ".bashrc").write_text(bashrc)
    seed, rng = fresh_rng()
    samples = [(c, s, line) for c, s, line in secrets(rng) if c in ("option_password", "pgpass") and _a_command(line)]
    pane = Pane([CROWDCODE, "shell"], me, {}, "privacy", columns=160)
    try:

        def entered(line: str) -> None:
            for key in line:
                pane.type(key)
            pane.keys("Enter")
            wait_for(
                lambda: (
                    [row for row in pane.screen().splitlines() if row.strip()][-2:]
                    == [f"{PROMPT}{line}", PROMPT.strip()]
                ),
                what=f"the prompt after {line!r}",
            )

        pane.wait_screen(PROMPT.strip())
        entered("set +H")
        for line in (*STUBS, *(line for _, _, line in samples)):
            entered(line)
        pane.type("exit")
        pane.keys("Enter")
        assert pane.exited(15, "crowdcode shell") == 0
    finally:
        pane.kill()
    only_session(ended=True)
    everything = _uploaded(url, store)
    assert_nothing_leaked(everything, samples, me, seed)
    assert '"command":"mysql -u root -p*' in everything and '"command":"sshpass -p *' in everything
