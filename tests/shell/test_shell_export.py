"""`crowdcode export --format asciicast` plays in the real asciinema; panic reaches the raw stream."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import orjson
from crowdcode_shell.asciicast import read_output
from shell_helpers import CROWDCODE, actions, cast_file, committed, only_session, recorded

from tests.conftest import wait_for

ASCIINEMA = str(Path(sys.executable).with_name("asciinema"))


def _session_with_output(shell) -> None:
    s = shell()
    s.prompt()
    s.run("printf 'h\\xc3\\xa9llo \\xe2\\x9c\\x93 done\\n'")
    s.run("printf '\\033[1;32mgreen\\033[0m\\n'")
    s.child.sendline("exit 2")
    assert s.finish() == 2


def test_asciicast_v2_plays_in_asciinema(shell, tmp_path: Path) -> None:
    _session_with_output(shell)
    out = tmp_path / "export.cast"
    subprocess.run([CROWDCODE, "export", "latest", "--format", "asciicast", "-o", str(out)], check=True)
    header, *events = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert header["version"] == 2 and (header["width"], header["height"]) == (80, 24)
    assert {e[1] for e in events} <= {"o", "i", "r", "m"}
    played = subprocess.run([ASCIINEMA, "cat", str(out)], check=True, capture_output=True).stdout
    raw = b"".join(data for _, data in read_output(cast_file(only_session(ended=True))))
    assert played == raw
    assert "héllo ✓ done".encode() in played


def test_asciicast_v3(shell, tmp_path: Path) -> None:
    _session_with_output(shell)
    out = subprocess.run(
        [CROWDCODE, "export", "latest", "--format", "asciicast", "--asciicast-version", "3"],
        check=True,
        capture_output=True,
    ).stdout
    header, *events = [orjson.loads(line) for line in out.splitlines()]
    assert header["version"] == 3 and header["term"]["cols"] == 80 and header["term"]["type"] == "xterm-256color"
    assert events[-1][1:] == ["x", "2"]
    _, original = _read(cast_file(only_session(ended=True)))
    # intervals add up to the original times (rounding carried forward), to the millisecond
    total = sum(e[0] for e in events)
    assert abs(total - original[-1][0]) < 0.002
    assert all(round(e[0], 3) == e[0] and e[0] >= 0 for e in events)
    played = b"".join(e[2].encode() for e in events if e[1] == "o")
    assert "héllo ✓ done".encode() in played


def _read(path: Path):
    from crowdcode_shell.asciicast import read_cast

    return read_cast(path)


def test_panic_truncates_the_raw_stream(shell, home: Path) -> None:
    s = shell()
    s.prompt()
    s.run("echo before-the-panic-$((1+1))")
    subprocess.run([CROWDCODE, "panic"], check=True, capture_output=True)
    s.run("echo after-the-panic-$((2+2))")
    s.child.sendline("exit")
    s.finish()
    data = b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    assert b"before-the-panic" not in data
    assert b"after-the-panic-4" in cast_file(only_session(ended=True)).read_bytes()


def test_panic_during_a_flood_drops_what_waits_in_the_spool(shell) -> None:
    """A panic pressed while a flood waits in the recorder's spool (spool.py): none of the output
    from before the press reaches the raw stream when the flood is handled later; what follows the
    press does."""
    import os
    import select
    import threading

    flood = "sleep 1; yes AAAA | head -c 150000000; echo; echo AFTER-$((1+1)); sleep 0.5"
    s = shell("--", "sh", "-c", flood)
    fd, tail, seen = s.child.child_fd, b"", 0
    pressed: list[subprocess.CompletedProcess[bytes]] = []
    presser = threading.Thread(target=lambda: pressed.append(subprocess.run([CROWDCODE, "panic"], capture_output=True)))

    while b"AFTER-2" not in tail:
        assert select.select([fd], [], [], 30)[0], "no output for 30 s"
        data = os.read(fd, 1 << 20)
        seen += len(data)
        tail = (tail + data)[-100:]
        if seen > 5_000_000 and presser.ident is None:
            presser.start()  # mid-flood, while it is deferred
    presser.join(30)
    assert pressed and pressed[0].returncode == 0, pressed
    s.finish()
    info = only_session(ended=True)
    (panic,) = actions(info, "panic")
    header, events = _read(cast_file(info))
    output = [e for e in events if e[1] == "o"]
    assert output and "AFTER-2" in "".join(e[2] for e in output)
    first_kept_ms = header.timestamp_ms + output[0][0] * 1000  # at or after the press (clock anchors differ by ms)
    assert first_kept_ms >= panic["gapEnd"] - 50, (first_kept_ms, panic)


def test_an_export_is_redacted_as_an_upload_is(shell, home: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An export is a file to share: fake secrets drawn afresh, typed at a real `crowdcode shell`
    (as comments: on the command line, in the screens and the raw stream), printed by `cat`, and
    in a file of the git working tree it captures (its snapshot), then the session exported in
    every format. None of them holds a fragment of a secret, the home path or the user name;
    ``--no-redact`` writes them as recorded (so the secrets were there to be found)."""
    from tests.fresh_corpus import fresh_rng, secrets
    from tests.privacy_support import as_user, assert_nothing_leaked

    bashrc = (Path(os.environ["HOME"]) / ".bashrc").read_text()
    me = as_user(tmp_path, monkeypatch)
    (me / ".bashrc").write_text(bashrc)
    seed, rng = fresh_rng()
    samples = [(c, s, line) for c, s, line in secrets(rng) if "\n" not in line]
    (me / "notes.txt").write_text("".join(f"{line}\n" for _, _, line in samples[::2]))
    in_file = [(c, s, line) for c, s, line in secrets(rng) if "\n" not in line]
    (me / "settings.py").write_text("".join(f"{line}\n" for _, _, line in in_file))
    committed(me, "settings.py")
    s = shell(cwd=me)
    s.prompt()
    s.run("set +H")  # no history expansion of the `!` in passwords
    s.run('echo "$HOME" "$USER"')
    for _category, _secret, line in samples[1::2]:
        s.run(f"# {line}")
    s.run("cat notes.txt")
    s.child.sendline("exit")
    assert s.finish() == 0
    info = only_session(ended=True)
    wait_for(lambda: recorded(info, "workspace_snapshot"), 30, what="the workspace's snapshot")

    def exported(*args: str) -> str:
        out = subprocess.run(
            [CROWDCODE, "export", info.id, *args], check=True, capture_output=True, text=True, timeout=120
        )
        assert "Traceback" not in out.stderr, out.stderr
        return out.stdout

    crowd_code = tmp_path / "crowd-code"
    exported("--format", "crowd-code-2.0", "-o", str(crowd_code))
    files = [p for p in sorted(crowd_code.rglob("*")) if p.is_file() and not p.name.endswith(".tar.gz")]
    assert any(p.parent.name == "snapshots" for p in files)
    bundle = "\n".join(p.read_text(errors="replace") for p in files)
    for part in sorted(crowd_code.glob("source_part_*.tar.gz")):
        with tarfile.open(part) as tar:
            bundle += "\n".join(tar.extractfile(m).read().decode(errors="replace") for m in tar if m.isfile())  # type: ignore[union-attr]
    assert "settings.py" in bundle  # the snapshot's file is there, redacted
    everything = {
        "jsonl": exported("--format", "jsonl"),
        "asciicast": exported("--format", "asciicast"),
        "asciicast v3": exported("--format", "asciicast", "--asciicast-version", "3"),
        "crowd-code-2.0": bundle,
    }
    for name, text in everything.items():
        assert "***" in text, name  # masked, not dropped
        keys = "".join(e[2] for e in map(orjson.loads, text.splitlines()[1:]) if e[1] == "i") if "ascii" in name else ""
        assert_nothing_leaked(text + "\n" + keys, samples + in_file, me, f"{seed} ({name})")
    as_recorded = exported("--format", "jsonl", "--no-redact")
    assert all(secret in as_recorded for _, secret, _ in samples[1::2]), seed
