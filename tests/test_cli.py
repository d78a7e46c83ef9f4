"""Every core CLI command, run as the real `crowdcode` executable, on an empty and a populated home."""

from __future__ import annotations

import re
import subprocess

import orjson
import pytest

from crowdcode_sdk import Edit, FileOpen, Session, TabSwitch, TextChange

from .conftest import run_cli

CORE_COMMANDS = ["status", "sessions", "show", "export", "panic", "config"]


@pytest.fixture
def populated(home):
    ids = []
    for name in ("first", "second"):
        with Session(adapter="test", editor=name) as s:
            s.record(FileOpen(file="a.py", text=""))
            s.record(Edit(file="a.py", diff=TextChange(range_offset=0, range_length=0, text="héllo 😀")))
            s.record(TabSwitch(file="b.py", previous_file="a.py"))
        ids.append(s.id)
    return ids


def test_help_everywhere():
    assert "COMMAND" in run_cli("--help").stdout
    for command in CORE_COMMANDS:
        assert "usage: crowdcode " + command in run_cli(command, "--help").stdout
    assert "usage: crowdcode config set" in run_cli("config", "set", "--help").stdout


def test_commands_on_an_empty_home(home):
    assert "nothing right now" in run_cli("status").stdout
    assert orjson.loads(run_cli("status", "--json").stdout)["sessions"] == 0
    assert "No sessions recorded yet" in run_cli("sessions").stdout
    assert orjson.loads(run_cli("sessions", "--json").stdout) == []
    assert "Removed 0 events" in run_cli("panic").stdout
    assert "config file" in run_cli("config").stdout
    for args in (["show", "latest"], ["export", "latest"]):
        result = run_cli(*args, check=False)
        assert result.returncode == 2
        assert result.stderr == "crowdcode: error: no sessions recorded yet\n"


def test_sessions_lists_oldest_first(populated):
    listed = orjson.loads(run_cli("sessions", "--json").stdout)
    assert [s["id"] for s in listed] == populated
    assert [s["editor"] for s in listed] == ["first", "second"]
    assert all(s["events"] == 5 and s["endReason"] == "closed" and s["end"] >= s["start"] for s in listed)
    table = run_cli("sessions").stdout
    assert table.index(populated[0]) < table.index(populated[1])


def test_show_prints_a_readable_timeline(populated):
    out = run_cli("show", populated[0][:20]).stdout
    lines = out.splitlines()
    assert lines[0].startswith(f"session {populated[0]}  first")
    assert "file_open" in lines[2]
    assert "edit" in lines[3] and "user" in lines[3] and "héllo 😀" in lines[3]
    assert "tab_switch" in lines[4]


def test_export_jsonl_in_sequence_order(populated, tmp_path):
    out = run_cli("export", "latest", "--format", "jsonl").stdout
    events = [orjson.loads(line) for line in out.splitlines()]
    assert [e["sequence"] for e in events] == [1, 2, 3, 4, 5]
    assert events[2]["action"]["diff"]["text"] == "héllo 😀"
    target = tmp_path / "out.jsonl"
    run_cli("export", populated[0], "-o", str(target))
    assert target.read_text().splitlines()[0].startswith('{"sequence":1,')


def test_status_counts_and_consent(populated):
    status = orjson.loads(run_cli("status", "--json").stdout)
    assert status["sessions"] == 2 and status["eventsStored"] == 10
    assert status["eventsHeldBack"] == 10  # all younger than the hold-back window
    assert status["consent"] == "pending" and status["storageBytes"] > 0
    text = run_cli("status").stdout
    assert "Consent: pending" in text and "Held back: 10 events" in text


def test_status_counts_the_events_of_a_live_session(home):
    """A first `crowdcode status`, typed in a recorded shell, counted its events as live but said
    "Stored: 0 events in 1 sessions" below: a live session's file has no count yet."""
    # The recorder is its own process and may register the session after the command started.
    live = "until crowdcode status --json | grep -q sessionId; do sleep 0.05; done"
    result = run_cli("shell", "--", "sh", "-c", f"{live}; crowdcode status --json; crowdcode status")
    status = orjson.loads(result.stdout[result.stdout.index("{") : result.stdout.rindex("}") + 1])
    (live,) = status["live"]
    assert live["events"] > 0 and status["eventsStored"] == live["events"]
    stored = re.search(r"^Stored: (\d+) events in 1 session, ", result.stdout, re.M)
    assert stored and int(stored[1]) >= live["events"]  # the recorder went on between the two


def test_panic_cuts_recently_closed_sessions(populated):
    assert "Removed 8 events" in run_cli("panic").stdout  # two opens, edits, tab switches and ends
    listed = orjson.loads(run_cli("sessions", "--json").stdout)
    assert [s["events"] for s in listed] == [2, 2]  # session_start + panic marker
    last = [orjson.loads(line) for line in run_cli("export", populated[1]).stdout.splitlines()]
    assert last[-1]["action"]["kind"] == "panic" and last[-1]["sequence"] == 6  # not reused


def test_config_set_validates_and_persists(home):
    assert run_cli("config", "set", "privacy.hold_back_s", "1200").stdout == "privacy.hold_back_s = 1200\n"
    assert "1200" in run_cli("config").stdout and "(set)" in run_cli("config").stdout
    assert (home / "config.toml").stat().st_mode & 0o777 == 0o600
    for key, value, message in [
        (
            "upload.url",
            "localhost:8080",
            "upload.url: expected a URL starting with http:// or https://, got 'localhost:8080'",
        ),
        ("privacy.hold_back_s", "soon", "privacy.hold_back_s: expected an integer, got 'soon'"),
        ("journal.fsync", "sometimes", "journal.fsync: expected one of always, interval, never"),
        ("no.such.key", "1", "unknown configuration key 'no.such.key'"),
    ]:
        result = run_cli("config", "set", key, value, check=False)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_broken_config_file_is_one_clear_error(home):
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("[journal\n")
    result = run_cli("status", check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("crowdcode: error: cannot read ") and "Traceback" not in result.stderr
    (home / "config.toml").write_text("[journal]\nfsync = 3\n")
    result = run_cli("config", check=False)
    assert "journal.fsync: expected str, got 3" in result.stderr


def test_the_configuration_is_read_again_whenever_the_file_changes(home):
    """The values are kept beside the runtime state while the file is unchanged (config.py): every
    way of changing the file is seen at the next command, by the real `sed` too."""

    def value(name: str) -> str:
        line = next(line for line in run_cli("config").stdout.splitlines() if line.startswith(f"{name} "))
        return line.split()[1]

    run_cli("config", "set", "privacy.hold_back_s", "1200")
    assert value("privacy.hold_back_s") == "1200"
    kept = home / "run" / "config.json"
    assert kept.stat().st_mode & 0o777 == 0o600
    config = home / "config.toml"
    subprocess.run(["sed", "-i", "s/1200/1300/", str(config)], check=True)  # a new file, same size
    assert value("privacy.hold_back_s") == "1300"
    with config.open("a") as f:  # in place: the same inode, another size
        f.write('[journal]\nfsync = "never"\n')
    assert value("journal.fsync") == "'never'"
    with config.open("a") as f:
        f.write("[journal\n")
    for _ in range(2):  # the error every time, never values kept from before
        result = run_cli("config", check=False)
        assert result.returncode == 2 and result.stderr.startswith("crowdcode: error: cannot read ")
    config.unlink()
    assert value("privacy.hold_back_s") != "1200"


def test_ambiguous_and_unknown_session_references(populated):
    result = run_cli("show", "0", check=False)
    assert result.returncode == 2 and "matches 2 sessions" in result.stderr
    result = run_cli("export", "zzz", check=False)
    assert result.returncode == 2 and "no session matches 'zzz'" in result.stderr


def test_an_unknown_option_shows_the_subcommands_usage(home):
    for args, usage in (
        (["shell", "--bogus"], "crowdcode shell"),
        (["config", "set", "--bogus", "a", "b"], "crowdcode config set"),
    ):
        result = run_cli(*args, check=False)
        assert result.returncode == 2
        assert result.stderr.startswith(f"usage: {usage} ")
        assert result.stderr.endswith(f"{usage}: error: unrecognized arguments: --bogus\n")


def test_help_texts_read_as_plain_text():
    play = run_cli("play", "--help").stdout
    assert "Keys: space pauses" in play and "``" not in play
    for command in ("status", "sessions", "panic", "config", "serve", "upload"):
        description = run_cli(command, "--help").stdout.split("\n\n")[1]
        assert not description.startswith(("positional", "options")), f"{command} --help has no description"


def test_consent_status_asks_nothing(home):
    out = run_cli("consent", "status").stdout
    assert out.startswith("Consent: pending")
    assert "crowdcode consent accept|decline" in out and "?" not in out


def test_accepting_consent_without_a_server_says_nothing_is_sent_yet(home):
    unset = "Nothing is sent until upload.url names the server: crowdcode config set upload.url https://…"
    assert run_cli("consent", "accept").stdout.splitlines()[1:] == [unset]
    run_cli("config", "set", "upload.url", "http://127.0.0.1:9")
    assert unset not in run_cli("consent", "accept").stdout


def test_registered_commands_are_found_through_the_index_and_a_stale_one_is_rebuilt(home):
    """The first run writes the index of registered commands; a later one takes a command from it
    (no ``importlib.metadata``); an index whose target no longer imports, or that was written for
    other site-packages, falls back to the entry points and is rewritten."""
    index = home / "run" / "commands.json"
    assert "usage: crowdcode play" in run_cli("play", "--help").stdout
    stored = orjson.loads(index.read_bytes())
    assert stored["commands"]["shell"] == "crowdcode_shell.cli:register"

    traced = run_cli("shell", "--help", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert "usage: crowdcode shell" in traced.stdout
    assert "importlib.metadata" not in traced.stderr  # found in the index

    stored["commands"]["shell"] = "crowdcode_no_such_module.cli:register"
    index.write_bytes(orjson.dumps(stored))
    assert "usage: crowdcode shell" in run_cli("shell", "--help").stdout
    assert orjson.loads(index.read_bytes())["commands"]["shell"] == "crowdcode_shell.cli:register"

    stored["key"] = ["another python"]
    stored["commands"] = {"shell": "crowdcode_no_such_module.cli:register"}
    index.write_bytes(orjson.dumps(stored))
    assert "usage: crowdcode shell" in run_cli("shell", "--help").stdout
    assert "upload" in orjson.loads(index.read_bytes())["commands"]
