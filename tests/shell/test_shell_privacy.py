"""End to end through a real `crowdcode shell`: fake secrets drawn afresh, typed as commands
(so that they sit in the shell-integration marks too), printed with a Latin-1 byte (so that the
cast gets exact-bytes events), answered at a raw-mode prompt; uploaded to a real `crowdcode
serve` on 127.0.0.1; every stored bundle unpacked and searched for every secret, every 8-character
fragment of one, the home path and the user name."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from shell_helpers import live_entry, only_session

from crowdcode_sdk import Store
from crowdcode_sdk.upload import read_bundle
from tests.fresh_corpus import fresh_rng, secrets
from tests.privacy_e2e import member_texts
from tests.privacy_support import as_user, assert_nothing_leaked, configure, serving, upload_now


@pytest.fixture
def serve(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = tmp_path / "store"
    with serving(store) as (url, _pid):
        yield url, store


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
    for args in (
        ["init", "-q"],
        ["add", "settings.py"],
        ["-c", "user.name=T", "-c", "user.email=t@e", "commit", "-qm", "s"],
    ):
        subprocess.run(["git", "-C", str(me), *args], check=True, capture_output=True)

    s = shell(cwd=me)
    s.prompt()
    live_entry(lambda entry: True)  # the recorder runs in its own process: its session is a moment behind
    info = only_session()

    def recorded(kind: str) -> bool:
        """An event of this type, or an action of this kind."""
        return any(kind in (e.type, e.to_wire().get("action", {}).get("kind")) for e in Store().events(info))

    deadline = time.monotonic() + 30
    while not recorded("workspace_snapshot"):  # the start snapshot: a change after it is a file_change
        assert time.monotonic() < deadline, "the workspace's start snapshot was not recorded"
        time.sleep(0.05)
    with open(settings, "a") as f:  # another program, not the terminal
        f.write("".join(f"{line}\n" for _, _, line in in_files[half:]))
    while not recorded("file_change"):
        assert time.monotonic() < deadline, "the other program's change was not recorded"
        time.sleep(0.05)
    s.run('echo "$HOME" "$USER"')
    s.run("set +H")  # no history expansion of the `!` in passwords
    for _category, _secret, line in samples:
        if not line.lstrip().startswith("password "):  # a .netrc line is a file's, printed below
            s.run(line if line.startswith(("export ", "curl ", "PGPASSWORD=")) else f"# {line}")
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

    configure_env = {"consent.status": "accepted", "upload.url": url, "privacy.hold_back_s": 0}
    from crowdcode_sdk.locations import Locations

    configure(Locations.default(), **configure_env)
    upload_now()

    texts = []
    for path in sorted(store.rglob("*.tar.zst")):
        bundle = read_bundle(path.read_bytes())
        texts.append(orjson.dumps(bundle.manifest).decode())
        texts += member_texts(bundle.members)
    assert texts, "nothing reached the server"
    everything = "\n".join(texts)
    assert "***" in everything  # what was found is masked, not dropped
    assert '"kind":"file_change"' in everything and "settings.py" in everything
    assert_nothing_leaked(everything, samples + in_files, me, seed)
    assert pin not in everything, f"seed {seed}"
    print(f"seed {seed}: {len(samples)} secrets, none left", file=sys.stderr)
