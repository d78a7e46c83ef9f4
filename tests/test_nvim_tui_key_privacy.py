"""End to end through the real Neovim TUI in tmux: a file that already holds a private key when
the recording starts (a fresh ed25519 key from ``ssh-keygen``, new each run), its last row edited
as a person edits it (a fresh random tail appended, too short for any detector alone); ``:wq``,
every session verified by ``crowdcode verify``, ``crowdcode upload --now`` to a real ingest
server, and every stored byte searched for every 8-character fragment of every row of the key
and of the typed tail. Recorded by the plugin and by Neovim's LSP client on the crowdcode shim:
each starts the file's shadow document from what it recorded of the file's opening text (the
``file_open``'s text or the workspace snapshot's)."""

from __future__ import annotations

import base64
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from crowdcode_sdk.store import Store

from .conftest import crowdcode_executable, only_session
from .nvim_driver import wait_for
from .privacy_e2e import on_host, stored_text
from .privacy_support import consenting_ingest, leaked_fragments
from .test_nvim_quit import Tui
from .test_nvim_tui_privacy import COLUMNS, USER, _lsp_client, _shim_has_the_buffer, _survivors, user_workspace

pytestmark = pytest.mark.timeout(240)


def _fresh_key(tmp_path: Path) -> list[str]:
    """The lines of a new ed25519 private key (no comment: the user and host are looked for apart)."""
    path = tmp_path / "generated"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(path)], check=True)
    return path.read_text().splitlines()


@pytest.mark.parametrize("recorder", ["plugin", "lsp"])
def test_a_row_edited_in_a_key_the_file_held_when_neovim_opened_it_never_leaves(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recorder: str
) -> None:
    ws, host = user_workspace(tmp_path, monkeypatch)
    key = _fresh_key(tmp_path)
    (ws / "f.txt").write_text("deploy notes: the staging host key\n\n" + "\n".join(key) + "\n\nrotate monthly\n")
    last_row = 2 + len(key) - 1  # 1-based line of the key's last body row
    tail = base64.b64encode(secrets.token_bytes(15)).decode()  # 20 characters: no detector finds it alone
    with consenting_ingest(tmp_path) as server:
        tui = Tui(
            home, ws, tmp_path, COLUMNS, host=host, recorder=_lsp_client(ws, tmp_path) if recorder == "lsp" else None
        )
        try:
            wait_for(lambda: Store().sessions(), what="the recorder's session")
            tui.wait_screen("rotate monthly")
            if recorder == "lsp":
                wait_for(lambda: _shim_has_the_buffer(tui), what="Neovim's LSP client to open the buffer in the shim")
            tui.command(f":{last_row}")
            tui.keys("A")
            tui.wait_screen("-- INSERT --")
            for piece in (tail[:7], tail[7:]):  # as typed: Neovim sends what it got at once
                tui.type(piece)
                tui.wait_screen(piece)
            tui.keys("Escape")
            tui.wait_screen("-- INSERT --", present=False)
            tui.gone_after(":wq", lambda: tui.command(":wq"), seconds=30)
        finally:
            tui.close()
        only_session(ended=True)
        wait_for(lambda: not _survivors(home), what="every process gone")
        edited = (ws / "f.txt").read_text().splitlines()
        assert edited[last_row - 1] == key[-2] + tail  # Neovim got the keys, where they were meant to go

        verified = subprocess.run([crowdcode_executable(), "verify", "--all"], capture_output=True, text=True)
        assert verified.returncode == 0 and "verified (" in verified.stdout, verified.stdout + verified.stderr
        upload = subprocess.run(
            on_host(host, [crowdcode_executable(), "upload", "--now"]), capture_output=True, text=True, timeout=120
        )
        assert upload.returncode == 0 and "Traceback" not in upload.stderr, upload.stderr
        everything = stored_text(server)
    assert '"kind":"edit"' in everything and "***" in everything, f"{upload.stdout}{upload.stderr}"
    rows = [("private_key", row, "") for row in key[1:-1]] + [("private_key", tail, "")]
    leaks = leaked_fragments(everything, rows)
    assert not leaks, f"{recorder}: {leaks}"
    for who in (host, USER, str(ws.parent)):
        assert who not in everything, who
    print(f"{recorder}: {len(key) - 2} rows of a fresh key and a typed tail, none left; host {host}", file=sys.stderr)
