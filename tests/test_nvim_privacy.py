"""End to end through a real Neovim with the crowdcode plugin: fake secrets drawn afresh, typed key
by key into a buffer and saved (each keystroke an edit event, viewport samples taken while they
are half typed), and a password saved into a secret file (``.env``); uploaded to a real ingest
server on 127.0.0.1 with ``crowdcode upload --now``; every stored bundle unpacked and searched for
every 8-character fragment of every secret, the home path and the user name."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.fresh_corpus import fresh_rng, secrets
from tests.privacy_support import as_user, assert_nothing_leaked, consenting_ingest, upload_now, uploaded_text

from .nvim_driver import editor, finished_session, settle, wait_recording


def _keys(text: str) -> str:
    """``text`` as Neovim's input() reads keys: ``<`` starts a key name."""
    return text.replace("<", "<lt>")


def test_no_secret_or_identity_leaves_a_real_neovim(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = as_user(tmp_path, monkeypatch)
    ws = me / "project"
    ws.mkdir()
    with consenting_ingest(tmp_path) as server:
        seed, rng = fresh_rng()
        samples = [(c, s, line) for c, s, line in secrets(rng) if "\n" not in line]
        password = "".join(rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(14))
        with editor(ws) as nvim:
            wait_recording(nvim)
            nvim.command("edit notes.py")
            for _category, _secret, line in samples:
                nvim.input("o" + _keys(line) + "<Esc>")
                settle(nvim)
            nvim.command("write")
            nvim.command("edit .env")
            nvim.input("iDB_PASSWORD=" + password + "<Esc>")
            settle(nvim)
            nvim.command("write")
            settle(nvim)
        finished_session()
        assert (ws / "notes.py").read_text().count("\n") == len(samples) + 1

        upload_now()
        everything = uploaded_text(server)
    assert '"kind":"edit"' in everything and "***" in everything
    assert_nothing_leaked(everything, [*samples, ("password", password, "")], me, seed)
    print(f"seed {seed}: {len(samples) + 1} secrets, none left", file=sys.stderr)
