"""End to end: what a person types at the password prompts of real programs in a real
`crowdcode shell` never leaves the machine, and neither do the host name, the user name or the
home path, shown by the prompt, the screen, the commands and git's config.

Each prompt gets a fresh random answer; the test checks the program received it (a file it wrote
holds it, or a key it made opens with it), uploads with `crowdcode upload --now` to a real ingest
server on 127.0.0.1 and searches every stored byte for every 8-character fragment of each answer.
The programs: `read -s` (line mode) and `read -s -n` (raw), a getpass prompt worded as `sudo`'s,
`openssl enc` and `ssh-keygen` (echo-off prompts on /dev/tty), `whiptail` and `dialog` password
boxes, `gpg --symmetric` through gpg-agent's pinentry-curses. The whole session, and the upload,
run under a random host name (tests/privacy_e2e.py)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pexpect
import pytest
from crowdcode_shell.screen import AvtScreen, ScreenState
from shell_helpers import CROWDCODE, only_session

from crowdcode_sdk.locations import Locations
from crowdcode_sdk.store import Store
from tests.privacy_e2e import on_host, random_host, stored_text
from tests.privacy_support import configure, leaked_fragments, make_ingest

USER = "zoltanfey"
PROMPT = "$ "

pytestmark = pytest.mark.timeout(240)


ANSWER_LENGTH = 17


def _answer() -> str:
    """A fresh password of :data:`ANSWER_LENGTH` characters with no word a detector could know:
    only the shell may keep it out. It ends in a digit, so that gpg-agent takes it without asking
    whether to keep an insecure one."""
    return secrets.token_urlsafe(12).replace("-", "x").replace("_", "y") + str(secrets.randbelow(10))


class _Rendering:
    """pexpect's ``logfile_read``: every byte pexpect reads from the terminal is rendered too."""

    def __init__(self, screen: AvtScreen) -> None:
        self.screen = screen

    def write(self, data: bytes) -> None:
        self.screen.feed(data)

    def flush(self) -> None:
        """Nothing is buffered."""


def _pinentry_asks(title: str) -> Callable[[ScreenState], bool]:
    """pinentry-curses shows the dialog titled ``title`` with its passphrase field empty and the
    cursor at the field's start: it reads the keys typed from now on. Judged on the rendered
    screen, because pinentry redraws only the cells that change: the second dialog's
    ``Passphrase:`` is the first one's, left standing, and is not sent again."""

    def asks(state: ScreenState) -> bool:
        row, column = state.cursor
        line = state.lines[row] if row < len(state.lines) else ""
        return (
            any(title in shown for shown in state.lines)
            and line[:column].endswith("Passphrase: ")
            and line[column:].startswith("_" * 8)
        )

    return asks


def _getpass(prompt: str) -> str:
    """A command asking ``prompt`` with getpass, as ``sudo`` does, that writes what it read to
    said.txt; the prompt is quoted in two parts, so that the command's echo does not show it."""
    half = len(prompt) // 2
    program = 'import getpass,sys; open("said.txt","w").write(getpass.getpass(sys.argv[1]))'
    return f"{sys.executable} -c '{program}' '{prompt[:half]}''{prompt[half:]}'"


def test_answers_at_secret_prompts_and_who_the_user_is_never_leave(home: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    missing = [
        p
        for p in ("unshare", "whiptail", "dialog", "gpg", "pinentry-curses", "ssh-keygen", "openssl")
        if not shutil.which(p)
    ]
    assert not missing, f"./scripts/install --test installs {missing}"
    me = tmp_path / USER
    me.mkdir()
    host = random_host()
    gnupg = me / ".gnupg"
    gnupg.mkdir(mode=0o700)
    (gnupg / "gpg-agent.conf").write_text(f"pinentry-program {shutil.which('pinentry-curses')}\n")
    (me / ".bashrc").write_text('PS1="\\$USER@\\h:\\w\\$ "\nHISTCONTROL=ignoreboth\nexport GPG_TTY=$(tty)\nset +H\n')
    for name, value in {
        "HOME": str(me),
        "USER": USER,
        "LOGNAME": USER,
        "SHELL": "/bin/bash",
        "TERM": "xterm-256color",
        "GNUPGHOME": str(gnupg),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("CROWDCODE_SHELL", "CROWDCODE_SHELL_NONCE", "PROMPT_COMMAND", "GPG_AGENT_INFO"):
        monkeypatch.delenv(name, raising=False)
    server = make_ingest(tmp_path)
    answers: dict[str, str] = {}
    child = None
    try:
        program, *args = on_host(host, [CROWDCODE, "shell"])
        child = pexpect.spawn(
            program,
            args,
            cwd=str(me),
            env=dict(os.environ),
            dimensions=(30, 100),
            timeout=30,
        )
        screen = AvtScreen(100, 30)
        child.logfile_read = _Rendering(screen)
        where = f"{USER}@{host}:~$ "

        def run(line: str) -> None:
            child.sendline(line)
            child.expect_exact(where)

        def answer(name: str, prompt: str, enter: str = "\r") -> str:
            """Wait for ``prompt`` on the screen (the command's echo must not show it: no type-ahead), then type a fresh answer and ``enter``."""
            child.expect_exact(prompt)
            answers[name] = value = answers.get(name) or _answer()
            child.send(value + enter)
            return value

        def answer_when(name: str, ready: Callable[[ScreenState], bool], what: str) -> None:
            """Wait until the rendered screen is ``ready`` for the answer, then type it and Enter."""
            deadline = time.monotonic() + 30
            while not ready(screen.state()):
                assert time.monotonic() < deadline, f"{what}, not on the screen:\n{screen.state().text}"
                try:
                    child.read_nonblocking(65536, timeout=0.1)  # rendered through logfile_read
                except pexpect.TIMEOUT:
                    continue
            answers[name] = value = answers.get(name) or _answer()
            child.send(value + "\r")

        child.expect_exact(where)
        run("git config --global user.name zoltanfey && git config --global user.email zoltanfey@$(hostname)")
        run("git config -l; hostname; echo $HOME $USER; pwd; uname -n")
        child.sendline('read -s -p "Pass""word: " p; echo "$p" > read.txt')
        answer("read -s", "Password: ")
        child.expect_exact(where)
        child.sendline(f'read -s -n {ANSWER_LENGTH} -p "Enter"" PIN: " p; echo "$p" > read-n.txt')
        answer("read -s -n", "Enter PIN: ", enter="")
        child.expect_exact(where)
        child.sendline(_getpass(f"[sudo] password for {USER}: "))
        answer("sudo", f"[sudo] password for {USER}: ")
        child.expect_exact(where)
        child.sendline("echo hello > plain.txt; openssl enc -aes-256-cbc -pbkdf2 -in plain.txt -out plain.enc")
        answer("openssl", "encryption password:")
        answer("openssl", "Verifying - enter")
        child.expect_exact(where)
        child.sendline("ssh-keygen -q -t ed25519 -C box -f ./key")
        answer("ssh-keygen", "Enter passphrase")
        answer("ssh-keygen", "Enter same passphrase again:")
        child.expect_exact(where)
        child.sendline("whiptail --passwordbox 'Vault pass''word' 8 40 2> whiptail.txt")
        answer("whiptail", "Vault password")
        child.expect_exact(where)
        child.sendline("dialog --passwordbox 'Vault pass''phrase' 8 40 2> dialog.txt; clear")
        answer("dialog", "Vault passphrase")
        child.expect_exact(where)
        child.sendline("gpg --batch=no -q --symmetric -o plain.gpg plain.txt")
        answer_when("gpg", _pinentry_asks("Enter passphrase"), "pinentry's passphrase dialog")
        answer_when("gpg", _pinentry_asks("Please re-enter this passphrase"), "pinentry's dialog to repeat it")
        child.expect_exact(where)
        run("echo all-answered")
        child.sendline("exit")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
        only_session(ended=True)

        # Each program got its answer: the keys reached it while the recording left them out.
        for name, path in (("read -s", "read.txt"), ("read -s -n", "read-n.txt")):
            assert (me / path).read_text().strip() == answers[name]
        assert (me / "said.txt").read_text() == answers["sudo"]
        assert (me / "whiptail.txt").read_text() == answers["whiptail"]
        assert (me / "dialog.txt").read_text() == answers["dialog"]
        opened = subprocess.run(
            [
                "openssl",
                "enc",
                "-d",
                "-aes-256-cbc",
                "-pbkdf2",
                "-in",
                "plain.enc",
                "-pass",
                f"pass:{answers['openssl']}",
            ],
            cwd=me,
            capture_output=True,
            text=True,
        )
        assert opened.stdout == "hello\n", opened.stderr
        assert (
            subprocess.run(
                ["ssh-keygen", "-y", "-P", answers["ssh-keygen"], "-f", "key"], cwd=me, capture_output=True
            ).returncode
            == 0
        )
        decrypted = subprocess.run(
            ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", answers["gpg"], "-qd", "plain.gpg"],
            cwd=me,
            capture_output=True,
            text=True,
        )
        assert decrypted.stdout == "hello\n", decrypted.stderr

        configure(
            Locations.default(),
            **{
                "consent.status": "accepted",
                "upload.url": server.url,
                "privacy.hold_back_s": 0,
                "upload.background": False,
            },
        )
        upload = subprocess.run(
            on_host(host, [CROWDCODE, "upload", "--now"]), capture_output=True, text=True, timeout=120
        )
        assert upload.returncode == 0 and "Traceback" not in upload.stderr, upload.stderr
        everything = stored_text(server)
    finally:
        server.close()
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], check=False)  # the agent gpg started
        if child is not None and child.isalive():  # cleanup only: a failed step left it running
            child.terminate(force=True)
    assert "all-answered" in everything and "ssh-keygen" in everything  # the session itself did leave
    leaks = leaked_fragments(everything, [(name, value, "") for name, value in answers.items()])
    assert not leaks, leaks
    for who in (host, USER, str(me)):
        assert who not in everything, who
    print(f"{len(answers)} prompts answered, none left; host {host}", file=sys.stderr)


READ_SILENTLY = {
    "bash": 'read -s -p "Pass""word: " p; echo "$p" > read.txt',
    "zsh": 'read -s "p?Pass""word: "; echo "$p" > read.txt',
    "fish": 'read -s -P "Pass""word: " p; echo $p > read.txt',
}
"""Each shell's own silent read, asking ``Password: `` (split in the command, so that its echo is
not the prompt). bash and zsh turn the terminal's echo off; fish reads in raw mode, draws ``●``
for each key and moves the cursor back into its line after every one (``\\r\\x1b[11C``)."""


@pytest.mark.parametrize("shell_name", sorted(READ_SILENTLY))
def test_a_password_typed_key_by_key_at_a_shells_silent_read_never_leaves(
    shell_name: str,
    user_home: Path,
    home: Path,
    tmp_path: Path,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    """`crowdcode shell` around bash, zsh and fish in tmux, each asked for a password by its own
    ``read -s``, answered one key at a time as a person types (each key waited for on the screen):
    the shell gets the answer, the recording holds none of its keys (neither the typed input of
    the journal nor the cast's, put back together), the session verifies, and the upload to a
    real ingest server holds no fragment of it."""
    from tests.conftest import crowdcode_executable, wait_for
    from tests.privacy_support import consenting_ingest, upload_now
    from tests.tmux_pane import Pane

    monkeypatch.setenv("SHELL", shutil.which(shell_name) or shell_name)
    answer = _answer()
    pane = Pane([CROWDCODE, "shell"], user_home, {}, f"read-{shell_name}", columns=100)
    try:
        pane.wait_screen("READY$")
        pane.type(READ_SILENTLY[shell_name])
        pane.keys("Enter")
        wait_for(lambda: pane.screen().rstrip().endswith("Password:"), what="the silent read's prompt")
        for typed, key in enumerate(answer, 1):
            pane.type(key)
            if shell_name == "fish":  # fish draws a mark for each key; the others show nothing
                wait_for(lambda n=typed: "●" * n in pane.screen(), what=f"key {typed} drawn")  # type: ignore[misc]
        pane.keys("Enter")
        wait_for(lambda: (user_home / "read.txt").exists(), what="the read's answer written")
        pane.type("exit")
        pane.keys("Enter")
        assert pane.exited(15, "crowdcode shell") == 0
    finally:
        pane.kill()
    assert (user_home / "read.txt").read_text().strip() == answer  # the keys reached the shell
    info = only_session(ended=True)
    journal_keys = "".join(
        event.to_wire()["action"]["data"]
        for event in Store().events(info)
        if event.type == "action" and event.to_wire()["action"]["kind"] == "terminal_input"
    )
    (cast,) = (info.directory / "terminals").glob("*.cast")
    cast_keys = "".join(e[2] for e in map(orjson.loads, cast.read_bytes().splitlines()[1:]) if e[1] == "i")
    leaked_keys = [keys for keys in (journal_keys, cast_keys) if leaked_fragments(keys, [("read", answer, "")])]
    assert not leaked_keys, f"{shell_name}: the answer was recorded as typed: {leaked_keys}"
    verified = subprocess.run([crowdcode_executable(), "verify", "--all"], capture_output=True, text=True)
    assert verified.returncode == 0 and "verified" in verified.stdout, verified.stdout + verified.stderr
    with consenting_ingest(tmp_path) as server:
        upload_now()
        everything = stored_text(server)
    assert "read.txt" in everything  # the session itself did leave
    assert not leaked_fragments(everything, [("read", answer, "")])
