"""End to end through a real Neovim with the crowdcode plugin: fake secrets drawn afresh, typed key
by key into a buffer and saved (each keystroke an edit event, viewport samples taken while they
are half typed), and a password saved into a secret file (``.env``); uploaded to a real ingest
server on 127.0.0.1 with ``crowdcode upload --now``; every stored bundle unpacked and searched for
every 8-character fragment of every secret, the home path and the user name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from crowdcode_sdk.locations import Locations
from tests.fresh_corpus import fresh_rng, secrets
from tests.privacy_support import bundles_in, configure, leaked_fragments, make_ingest

from .nvim_driver import editor, finished_session, settle, wait_recording

USER = "zoltanfey"
CROWDCODE = str(Path(sys.executable).with_name("crowdcode"))


def _keys(text: str) -> str:
    """``text`` as Neovim's input() reads keys: ``<`` starts a key name."""
    return text.replace("<", "<lt>")


def test_no_secret_or_identity_leaves_a_real_neovim(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = tmp_path / USER
    ws = me / "project"
    ws.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(me))
    for variable in ("USER", "LOGNAME"):
        monkeypatch.setenv(variable, USER)
    server = make_ingest(tmp_path)
    try:
        configure(
            Locations.default(),
            **{
                "consent.status": "accepted",
                "upload.url": server.url,
                "upload.background": False,
                "privacy.hold_back_s": 0,
            },
        )
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

        upload = subprocess.run([CROWDCODE, "upload", "--now"], capture_output=True, text=True, timeout=120)
        assert upload.returncode == 0 and "Traceback" not in upload.stderr, upload.stderr
        texts = []
        for members in bundles_in(server):
            texts += [data.decode("latin-1") for data in members.values()]
        assert texts, "nothing reached the server"
        everything = "\n".join(texts)
        assert '"kind":"edit"' in everything and "***" in everything
    finally:
        server.close()
    leaks = leaked_fragments(everything, [*samples, ("password", password, "")])
    assert not leaks, f"seed {seed}: {leaks}"
    assert str(me) not in everything and USER not in everything, f"seed {seed}"
    print(f"seed {seed}: {len(samples) + 1} secrets, none left", file=sys.stderr)
