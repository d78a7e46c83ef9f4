"""Every kind of bundle member goes through the redactor: a secret and the user's identity are
planted in every source a member is made from, and no member — of any kind — carries them.

The kinds are bundle.MEMBER_KINDS: a new kind added to the layout and not planted here fails
the test until it is (and so until its redaction is shown)."""

from __future__ import annotations

import base64
import socket

import orjson
import pytest

from crowdcode_sdk import Edit, Position, Session, TerminalCommand, TerminalViewport, TextChange, Viewport
from crowdcode_sdk.locations import Locations
from crowdcode_sdk.upload import read_bundle
from crowdcode_sdk.upload.bundle import MANIFEST, MEMBER_KINDS, member_kind
from tests.privacy_support import Uploader, configure, write_snapshot

USER = "zoltanfey"
HOST = "zoltanfey-workstation"
HOME = f"/home/{USER}"
TOKEN = "ghp_" + "Qm7Xk2Lp9Rt4Vw8Yz3Bn6Cd1Fg5Hj0Ks2Lm4"


@pytest.fixture
def someone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user with a distinctive name, home and host (the test machine's are generic)."""
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(variable, USER)
    monkeypatch.setenv("HOME", HOME)
    monkeypatch.setattr(socket, "gethostname", lambda: HOST)


def test_no_member_of_any_kind_carries_a_secret_or_the_identity(privacy_home: Locations, ingest, someone) -> None:  # type: ignore[no-untyped-def]
    configure(privacy_home, **{"consent.status": "accepted", "upload.url": ingest.url})
    session = Session(adapter="test", editor="pytest", workspace=f"{HOME}/proj", locations=privacy_home)
    path = f"{HOME}/proj/app.py"
    for i, char in enumerate(f"key = '{TOKEN}'\n"):
        session.record(Edit(file=path, diff=TextChange(range_offset=i, range_length=0, text=char)))
    session.observe(
        viewport=Viewport(
            file=path,
            start_line=1,
            end_line=1,
            content=f"key = '{TOKEN}'",
            cursor_position=Position(line=0, character=0),
        )
    )
    shown = [f"{USER}@{HOST}:~/proj$ echo {TOKEN}", TOKEN]
    session.observe(active_terminal=TerminalViewport(id="t1", name=f"{USER}@{HOST}", viewport=shown, cols=80, rows=24))
    session.record(
        TerminalCommand(terminal_id="t1", terminal_name="bash", command=f"export GH_TOKEN={TOKEN}", cwd=f"{HOME}/proj")
    )
    write_snapshot(
        privacy_home,
        "snap-1",
        {"app.py": f"key = '{TOKEN}'\n# {HOME} on {HOST}\n", f"notes/{USER}.md": "hi\n"},
        root=f"{HOME}/proj",
    )
    session.snapshot("snap-1")
    terminals = session.directory / "terminals"
    terminals.mkdir()
    raw = f"caf\xe9 {TOKEN} {HOME}\r\n".encode("latin-1")
    cast = [
        {"version": 2, "width": 80, "height": 24, "env": {"HOME": HOME, "USER": USER}},
        [0.1, "o", f"\x1b]6973;n;P;{HOME}/proj\x07\x1b]6973;n;C;export GH_TOKEN={TOKEN}\x07"],
        [0.2, "o", raw.decode("utf-8", "replace")],
        [0.2, "b", base64.b64encode(raw).decode()],
        [0.3, "i", f"echo {TOKEN}\r"],
        [0.4, "m", f"{USER} was here"],
        [0.5, "x", "0"],
    ]
    (terminals / "t1.cast").write_bytes(b"\n".join(orjson.dumps(e) for e in cast) + b"\n")
    session.close()

    assert Uploader(privacy_home).run_once().sent == 1
    (key,) = ingest.store.bundles()
    bundle = read_bundle(ingest.store.read(key))
    kinds = {member_kind(name) for name in bundle.members}
    assert kinds == set(MEMBER_KINDS), "a member kind this test does not plant secrets in"
    for name, data in [*bundle.members.items(), (MANIFEST, orjson.dumps(bundle.manifest))]:
        views = [data]
        if member_kind(name) == "cast":
            for line in data.splitlines()[1:]:
                event = orjson.loads(line)
                if event[1] == "b":
                    views.append(base64.b64decode(event[2]))
        for view in views:
            text = view.decode("latin-1")
            for needle in (TOKEN[:8], TOKEN[-8:], HOME, USER, HOST):
                assert needle not in text, f"{needle!r} left in {name}"
