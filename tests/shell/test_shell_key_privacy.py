"""End to end through a real `crowdcode shell`'s workspace capture: a file of the git working
tree holds a fresh ed25519 key (``ssh-keygen``, new each run) when the session starts (the start
snapshot), and another program replaces the key's last row with a fresh short one, which the
capture records as a ``file_change`` whose three lines of context do not reach the BEGIN line.
Every session verified by ``crowdcode verify``, uploaded to a real ``crowdcode serve``, every
stored byte searched for every 8-character fragment of every row, old and new."""

from __future__ import annotations

import base64
import secrets
import subprocess
import sys
from pathlib import Path

import orjson
from shell_helpers import committed, live_entry, only_session, recorded

from crowdcode_sdk.upload import read_bundle
from tests.conftest import crowdcode_executable
from tests.nvim_driver import wait_for
from tests.privacy_e2e import member_texts
from tests.privacy_support import as_user, assert_nothing_leaked, configure, upload_now


def test_a_key_row_that_another_program_changes_in_the_workspace_never_leaves(  # type: ignore[no-untyped-def]
    shell, tmp_path: Path, monkeypatch, serve
) -> None:
    url, store = serve
    me = as_user(tmp_path, monkeypatch)
    (me / ".bashrc").write_text((Path(tmp_path / "user") / ".bashrc").read_text())
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(tmp_path / "k")], check=True)
    key = (tmp_path / "k").read_text().splitlines()
    fresh_row = base64.b64encode(secrets.token_bytes(15)).decode()  # 20 characters: no detector finds it alone
    notes = me / "deploy_notes.txt"
    notes.write_text("staging host key, rotate monthly\n\n" + "\n".join(key) + "\n\nowner: ops\n")
    committed(me, notes.name)

    s = shell(cwd=me)
    s.prompt()
    live_entry(lambda entry: True)  # the recorder runs in its own process: its session is a moment behind
    info = only_session()

    wait_for(lambda: recorded(info, "workspace_snapshot"), what="the workspace's start snapshot")
    changed = [*key[:-2], fresh_row, key[-1]]  # another program, not the terminal
    notes.write_text("staging host key, rotate monthly\n\n" + "\n".join(changed) + "\n\nowner: ops\n")
    wait_for(lambda: recorded(info, "file_change"), what="the other program's change")
    s.run("git status --short")
    s.child.sendline("exit")
    assert s.finish() == 0
    only_session(ended=True)

    verified = subprocess.run([crowdcode_executable(), "verify", "--all"], capture_output=True, text=True)
    assert verified.returncode == 0 and "verified (" in verified.stdout, verified.stdout + verified.stderr
    from crowdcode_sdk.locations import Locations

    configure(Locations.default(), **{"consent.status": "accepted", "upload.url": url, "privacy.hold_back_s": 0})
    upload_now()
    texts = []
    for path in sorted(store.rglob("*.tar.zst")):
        bundle = read_bundle(path.read_bytes())
        texts.append(orjson.dumps(bundle.manifest).decode())
        texts += member_texts(bundle.members)
    everything = "\n".join(texts)
    assert '"kind":"file_change"' in everything and "deploy_notes.txt" in everything  # the change left, masked
    rows = [("private_key", row, "") for row in [*key[1:-1], fresh_row]]
    assert_nothing_leaked(everything, rows, me, "ssh-keygen")
    print(f"{len(key) - 2} rows of a fresh key and a changed row, none left", file=sys.stderr)
