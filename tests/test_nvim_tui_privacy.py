"""End to end through the real Neovim TUI in tmux, recorded by the plugin or by Neovim's own LSP
client on the crowdcode LSP shim: fake
secrets drawn afresh, typed with send-keys as a person types them (private-key blocks included),
a password answered at Neovim's own ``inputsecret()`` prompt, the host name read into the buffer
(``:r !hostname``) and a line with the user's address; ``:wq``, Neovim and the recorder gone;
``crowdcode upload --now`` to a real ingest server on 127.0.0.1; every stored byte searched for
every 8-character fragment of every secret, the password, the host name, the user name and the
home path. Neovim and the upload run under a random host name (tests/privacy_e2e.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from crowdcode_sdk.store import Store

from .conftest import crowdcode_executable, only_session
from .fresh_corpus import fresh_rng, secrets
from .lsp.lsp_harness import SERVER
from .lsp.test_lsp_nvim_random import ATTACH
from .nvim_driver import wait_for
from .privacy_e2e import on_host, random_host, stored_text
from .privacy_support import consenting_ingest, leaked_fragments
from .test_nvim_quit import Tui

pytestmark = pytest.mark.timeout(240)

USER = "zoltanfey"
COLUMNS = 120


def _searched(samples: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """What must not be found: a key block's body lines (its BEGIN and END lines stay)."""
    out = []
    for category, secret, line in samples:
        if "\n" in secret:
            out += [(category, body, line) for body in secret.splitlines()[1:-1] if len(body) >= 8]
        else:
            out.append((category, secret, line))
    return out


def _lsp_client(ws: Path, tmp_path: Path) -> list[str]:
    """Neovim arguments that attach its LSP client, on every buffer, to the crowdcode shim."""
    script = tmp_path / "attach.lua"
    arguments = f"local cmd, root = vim.json.decode({json.dumps(json.dumps(SERVER))}), {json.dumps(str(ws))}"
    script.write_text(ATTACH.replace("local cmd, root = ...", arguments))
    return ["-c", f"luafile {script}"]


_ATTEMPTS = iter(range(1 << 30))


def _shim_has_the_buffer(tui: Tui) -> bool:
    """Whether Neovim's LSP client is initialized, so that it sent the shim the buffer (didOpen)
    and sends every later keystroke as an edit; what is typed before reaches the shim as the
    buffer's opening text, not as edits. Asked on the command line; the answer names the
    attempt, so that an earlier answer still on the screen is not taken for it."""
    attempt = next(_ATTEMPTS)
    tui.command(
        ':lua local c = vim.lsp.get_clients({name = "crowdcode"})[1]; '
        f'print("shim {attempt}" .. ": " .. tostring(c ~= nil and c.initialized))'
    )
    tui.wait_screen(f"shim {attempt}: ")
    return f"shim {attempt}: true" in tui.screen()


def _survivors(home: Path) -> list[int]:
    """Processes of this test's crowdcode home still alive (Neovim, the plugin's recorder, the shim)."""
    marker = f"CROWDCODE_HOME={home}".encode()
    alive = []
    for entry in Path("/proc").iterdir():
        try:
            ours = entry.name.isdigit() and marker in (entry / "environ").read_bytes().split(b"\0")
            if ours and (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":  # not a zombie
                alive.append(int(entry.name))
        except OSError:
            continue
    return alive


def user_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A workspace in the home of :data:`USER` (``HOME``, ``USER`` and ``LOGNAME`` set), and a
    fresh host name: none of them may leave."""
    me = tmp_path / USER
    ws = me / "project"
    ws.mkdir(parents=True)
    for name, value in {"HOME": str(me), "USER": USER, "LOGNAME": USER}.items():
        monkeypatch.setenv(name, value)
    return ws, random_host()


@pytest.mark.parametrize("recorder", ["plugin", "lsp"])
def test_no_secret_or_identity_leaves_the_neovim_tui(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recorder: str
) -> None:
    ws, host = user_workspace(tmp_path, monkeypatch)
    seed, rng = fresh_rng()
    samples = secrets(rng)
    password = "".join(rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(14))
    with consenting_ingest(tmp_path) as server:
        tui = Tui(
            home, ws, tmp_path, COLUMNS, host=host, recorder=_lsp_client(ws, tmp_path) if recorder == "lsp" else None
        )
        try:
            wait_for(lambda: Store().sessions(), what="the recorder's session")
            tui.wait_screen("f.txt")
            if recorder == "lsp":
                wait_for(lambda: _shim_has_the_buffer(tui), what="Neovim's LSP client to open the buffer in the shim")
            tui.keys("i")
            tui.wait_screen("-- INSERT --")
            for _category, _secret, line in samples:
                for row in line.splitlines():
                    tui.type(row)
                    tui.keys("Enter")
                    shown_last = row[(len(row) - 1) // COLUMNS * COLUMNS :]  # its last screen row
                    tui.wait_screen(shown_last[-12:])  # typed, as a person sees it before going on
            tui.type(f"mail {USER}@")
            tui.keys("Escape")
            tui.wait_screen("-- INSERT --", present=False)
            tui.command(":r !hostname")
            tui.wait_screen(host)
            tui.command(':let p = inputsecret("Vault pass" .. "word: ")')  # the command does not show the prompt
            tui.wait_screen("Vault password:")
            tui.type(password)
            tui.keys("Enter")
            said = tmp_path / "said.txt"  # outside the workspace, whose files are recorded as they are
            tui.command(f":call writefile([p], '{said}')")
            wait_for(said.exists, what="the password written")
            tui.gone_after(":wq", lambda: tui.command(":wq"), seconds=30)
        finally:
            tui.close()
        only_session(ended=True)
        wait_for(lambda: not _survivors(home), what="every process gone")
        assert said.read_text() == password + "\n"  # Neovim got the keys
        text = (ws / "f.txt").read_text()
        assert all(row in text for _, _, line in samples for row in line.splitlines()) and host in text

        upload = subprocess.run(
            on_host(host, [crowdcode_executable(), "upload", "--now"]), capture_output=True, text=True, timeout=120
        )
        assert upload.returncode == 0 and "Traceback" not in upload.stderr, upload.stderr
        everything = stored_text(server)
    left = '"kind":"edit"' in everything and "***" in everything  # the session did leave, masked
    assert left, f"{upload.stdout}{upload.stderr}{Store().sessions()}"
    leaks = leaked_fragments(everything, [*_searched(samples), ("password", password, "")])
    assert not leaks, f"seed {seed}: {leaks}"
    for who in (host, USER, str(ws.parent)):
        assert who not in everything, f"seed {seed}: {who}"
    print(f"seed {seed}: {len(samples) + 1} secrets typed in the TUI, none left; host {host}", file=sys.stderr)
