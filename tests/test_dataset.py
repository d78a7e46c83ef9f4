"""`crowdcode dataset build` on what a real ingest server stored, and `crowdcode dataset delete`."""

from __future__ import annotations

import io
import os
import secrets
import shutil
import string
import subprocess
from pathlib import Path

import orjson
import pytest

from crowdcode_sdk import Edit, FileSave, Session
from crowdcode_sdk.dataset.ingest import pseudonym
from crowdcode_sdk.journal import segments
from crowdcode_sdk.locations import Locations, install_identity
from crowdcode_sdk.positions import content_facts
from crowdcode_sdk.serialize.dataset import split_of
from crowdcode_sdk.verification import verify
from tests.conftest import crowdcode_executable, run_cli
from tests.privacy_support import Uploader, configure, serving
from tests.recordings import Recorder

FINAL: dict[str, str] = {}
"""Each recorded session's file as the user left it, by session id."""
INITIAL: dict[str, tuple[str, str]] = {}
"""Each recorded session's file path and text when opened, by session id."""


def record_work(locations: Locations, workspace: Path, n: int) -> str:
    """A small real session: open a file, type, save, run a command, type, save; ``n`` makes each
    one different."""
    with Session(adapter="test", editor="test-editor", workspace=workspace, locations=locations) as session:
        r = Recorder(session, workspace)
        path = f"src/mod{n}.py"
        r.open(path, "".join(f"line {i}\n" for i in range(n % 7 + 3)))
        r.select(path, 1)
        type_and_save(r, path, len("line 0\n"), f"value = {n}\n")
        r.command(f"python -c 'print({n})'", [str(n)], exit_code=n % 2)
        type_and_save(r, path, 0, "# header\n")
    FINAL[session.id] = r.final()[path]
    INITIAL[session.id] = (path, r.initial[path])
    return session.id


def type_and_save(r: Recorder, path: str, at: int, text: str) -> None:
    """Type ``text`` a key at a time and save, as an editor records it."""
    r.type(path, at, text[:-1])
    end = at + len(text) - 1
    last = r.session.record(Edit(file=path, diff=r.docs[path].replace(end, end, text[-1])))
    r.session.record(FileSave(file=path, last_edit_sequence=last.sequence, content=content_facts(r.final()[path])))


def new_contributor(locations: Locations) -> str:
    """Another person: a fresh install id (and salt) for the sessions recorded from now on."""
    (locations.data_dir / "install.json").unlink(missing_ok=True)
    for tokens in locations.data_dir.rglob("tokens.json"):  # the server's token for the old install
        tokens.unlink()
    return install_identity(locations).install_id


def examples(out: Path) -> dict[str, list[dict]]:
    return {
        split: [orjson.loads(line) for line in (out / f"{name}.jsonl").read_bytes().splitlines()]
        for split, name in (("train", "training"), ("validation", "validation"))
    }


def build(*args: str, plots: bool = False) -> subprocess.CompletedProcess[str]:
    extra = () if plots else ("--no-plots",)
    return run_cli("dataset", "build", *args, "--min-conversation-messages", "1", *extra, timeout=120)


@pytest.fixture
def served(privacy_home: Locations, tmp_path: Path):  # type: ignore[no-untyped-def]
    """`crowdcode serve` as a maintainer runs it, with consent given and its URL configured."""
    store = tmp_path / "served"
    with serving(store) as (url, _pid):
        configure(privacy_home, **{"consent.status": "accepted", "upload.url": url})
        yield store


def upload() -> None:
    result = run_cli("upload", "--now", check=False)
    assert result.returncode == 0 and "sent" in result.stdout, result.stdout + result.stderr


def test_build_from_a_served_store(privacy_home: Locations, served: Path, tmp_path: Path) -> None:
    from datasets import load_dataset

    installs: dict[str, str] = {}
    for person in range(4):
        install = new_contributor(privacy_home)
        for n in range(3):
            installs[record_work(privacy_home, tmp_path / f"ws{person}", person * 10 + n)] = install
        upload()
    assert len(list(served.glob("bundles/*/*.tar.zst"))) == 12

    out = tmp_path / "dataset"
    result = build(str(served), "--out", str(out), "--val-ratio", "0.5")
    assert result.stdout.startswith("12 sessions -> ")
    assert "0 quarantined, 0 duplicates" in result.stdout
    report = orjson.loads((out / "report.json").read_bytes())
    assert report["summary"]["sessions"] == 12 and report["summary"]["bundles_new"] == 12
    assert report["summary"]["contributors_in_both_splits"] == 0
    typed = sum(len(f"value = {p * 10 + n}\n# header\n") for p in range(4) for n in range(3))  # one edit a key
    assert report["events_per_kind"]["edit"] == typed and report["edit_sources"] == {"user": typed}
    assert "## Events per kind" in (out / "README.md").read_text()

    lines = examples(out)
    for records in lines.values():
        for record in records:
            origin = record["provenance"]
            assert origin["contributor"] == pseudonym(installs[origin["session"]])
            assert origin["verified"] is True
            assert 1 <= origin["first_sequence"] <= origin["last_sequence"]
            assert record["conversations"][0]["from"] == "Assistant"
    seen = {split: {r["provenance"]["contributor"] for r in records} for split, records in lines.items()}
    assert not seen["train"] & seen["validation"]
    for split, people in seen.items():  # each person's split is the hash of their pseudonym
        assert {split_of(p, 0.5) for p in people} <= {split}
    assert {r["provenance"]["session"] for rs in lines.values() for r in rs} == set(installs)
    assert any("[exit code 1]" in m["value"] for rs in lines.values() for r in rs for m in r["conversations"])

    # Every emitted command runs in bash (GNU sed) from the initial workspace without error or
    # stderr, prints what the example says, and the commands rebuild the file byte for byte.
    for session in installs:
        path, text = INITIAL[session]
        workspace = tmp_path / "replay" / session
        (workspace / path).parent.mkdir(parents=True)
        (workspace / path).write_text(text)
        records = sorted(
            (r for rs in lines.values() for r in rs if r["provenance"]["session"] == session),
            key=lambda r: r["provenance"]["first_sequence"],
        )
        messages = [m for r in records for m in r["conversations"]]
        for command, answer in zip(messages[::2], messages[1::2], strict=True):
            script = command["value"].removeprefix("```bash\n").removesuffix("\n```")
            if script.startswith("python -c"):
                continue  # the recorded terminal command, not a file command
            ran = subprocess.run(["bash", "-c", script], cwd=workspace, capture_output=True, text=True, timeout=30)
            assert (ran.returncode, ran.stderr) == (0, ""), script
            shown = answer["value"].removeprefix("<stdout>\n").removesuffix("\n</stdout>")
            assert ran.stdout.removesuffix("\n") == shown, script
        assert (workspace / path).read_bytes() == FINAL[session].encode()

    # Next-edit examples: one a session (its second burst, with the first as history); the
    # rewrite, put in the file as it was, gives the file as the user saved it.
    edits = [
        orjson.loads(line)
        for name in ("training", "validation")
        for line in (out / "next_edit" / f"{name}.jsonl").read_bytes().splitlines()
    ]
    assert sorted(e["provenance"]["session"] for e in edits) == sorted(installs)
    for example in edits:
        assert example["events"].startswith('User edited "src/mod') and "+value = " in example["events"]
        assert "<|user_cursor_is_here|>" in example["input"] and "<|editable_region_start|>" in example["input"]
        body = example["output"].split("\n", 1)[1].removesuffix("```")
        rebuilt = body.replace("<|editable_region_start|>\n", "").replace("<|editable_region_end|>\n", "")
        assert rebuilt == FINAL[example["provenance"]["session"]]

    loaded = load_dataset("parquet", data_dir=str(out / "data"), cache_dir=str(tmp_path / "hf"))
    # Contributors' install ids are random, so a split may be empty: then it has no shards.
    assert {split: rows.num_rows for split, rows in loaded.items()} == {s: len(v) for s, v in lines.items() if v}
    first = next(iter(loaded.values()))[0]
    assert first["session"] in installs and first["verified"] is True
    assert first["messages"][0]["role"] == "assistant" and first["messages"][0]["train"] is True

    # A grown store: the next build reads only the new bundle and serializes only its session.
    install = new_contributor(privacy_home)
    installs[record_work(privacy_home, tmp_path / "ws9", 99)] = install
    upload()
    again = build(str(served), "--out", str(out), "--val-ratio", "0.5")
    assert again.stdout.startswith("13 sessions -> ") and "12 reused from the last build" in again.stdout
    grown = orjson.loads((out / "report.json").read_bytes())["summary"]
    assert (grown["bundles_new"], grown["bundles_known"]) == (1, 12)
    assert sum(map(len, examples(out).values())) > sum(map(len, lines.values()))

    # Consent revoked: every example of that contributor goes, and stays gone on rebuilds.
    revoked = next(iter(installs.values()))
    (tmp_path / "revoked.txt").write_text(f"# revoked\n{revoked}\n")
    result = run_cli("dataset", "delete", str(out), "--revocations", str(tmp_path / "revoked.txt"))
    assert result.stdout.startswith("removed ")
    gone = pseudonym(revoked)
    assert all(r["provenance"]["contributor"] != gone for rs in examples(out).values() for r in rs)
    # The report and the card count what is left; the shards keep the build's size.
    left = orjson.loads((out / "report.json").read_bytes())
    assert left["summary"]["examples"] == {split: len(rs) for split, rs in examples(out).items()}
    assert gone not in {entry["contributor"] for entry in left["sessions"]}
    others = sum(1 for install in installs.values() if install != revoked)
    assert left["summary"]["sessions"] == len(left["sessions"]) == others
    assert f"| sessions | {others} |" in (out / "README.md").read_text()
    build(str(served), "--out", str(out), "--val-ratio", "0.5")
    assert all(r["provenance"]["contributor"] != gone for rs in examples(out).values() for r in rs)
    reloaded = load_dataset("parquet", data_dir=str(out / "data"), cache_dir=str(tmp_path / "hf2"))
    assert all(gone not in rows["contributor"] for rows in reloaded.values())


@pytest.mark.unverified(
    reason="the build's staging copy is redacted, which a plain verify fails by design; the recording is verified before upload"
)
def test_a_secret_saved_in_a_file_is_masked_and_its_session_kept(
    privacy_home: Locations, served: Path, tmp_path: Path
) -> None:
    """Redaction masks a token typed into a file, but the save's recorded hash is of the text
    with the token: the uploaded session cannot replay to it. It verified before redaction (the
    bundle says so), so the build keeps it, with the token masked, rather than quarantining every
    session in which someone saved a secret."""
    token = "ghp_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36))
    with Session(adapter="test", editor="test-editor", workspace=tmp_path / "ws", locations=privacy_home) as session:
        r = Recorder(session, tmp_path / "ws")
        r.open("settings.py", "DEBUG = True\n")
        r.select("settings.py", 1)
        type_and_save(r, "settings.py", len("DEBUG = True\n"), f"TOKEN = '{token}'\n")
        r.command("python settings.py", [""], exit_code=0)
        type_and_save(r, "settings.py", 0, "# settings\n")
    assert verify(session.directory).ok
    upload()
    out = tmp_path / "dataset"
    result = build(str(served), "--out", str(out))
    assert "0 quarantined" in result.stdout, result.stderr
    [record] = examples(out)["train"] + examples(out)["validation"]
    text = orjson.dumps(record).decode()
    assert token not in text and "*" * 40 in text and record["provenance"]["verified"] is True
    assert token not in b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file()).decode("utf-8", "replace")


def test_duplicate_bundles_give_one_copy(privacy_home: Locations, served: Path, tmp_path: Path) -> None:
    new_contributor(privacy_home)
    sessions = {record_work(privacy_home, tmp_path / "ws", n) for n in range(2)}
    upload()
    bundle = sorted(served.glob("bundles/*/*.tar.zst"))[0]  # one bundle per session
    copy = served / "bundles" / ("f" * 32) / bundle.name  # the same bytes stored again elsewhere
    copy.parent.mkdir()
    shutil.copy(bundle, copy)
    downloaded = tmp_path / "downloaded.tar.zst"  # and a maintainer's download of it, given too
    shutil.copy(bundle, downloaded)
    out = tmp_path / "dataset"
    result = build(str(served), str(downloaded), "--out", str(out), plots=True)
    assert result.stdout.startswith("2 sessions -> ")
    report = orjson.loads((out / "report.json").read_bytes())["summary"]
    assert report["duplicates"] == 2 and report["bundles_new"] == 2
    found = [r["provenance"]["session"] for rs in examples(out).values() for r in rs]
    assert set(found) == sessions and len(found) == len(set(found))  # one conversation each, once
    card = (out / "README.md").read_text()
    for plot in ("session_minutes.png", "events_per_kind.png", "edit_sources.png"):
        assert (out / "plots" / plot).read_bytes().startswith(b"\x89PNG") and f"(plots/{plot})" in card
    # The older commands point at this one instead of finding nothing.
    for command in (("serialize", str(served), "--out", str(tmp_path / "s")), ("import", str(downloaded))):
        refused = run_cli(*command, check=False)
        assert refused.returncode == 2 and "crowdcode dataset build" in refused.stderr
        assert "Traceback" not in refused.stderr


@pytest.mark.unverified(reason="three sessions are corrupted on purpose; the build must quarantine them")
@pytest.mark.parametrize("engine", ["local", "ray"])
def test_corrupt_sessions_among_fifty_good(locations: Locations, tmp_path: Path, engine: str) -> None:
    good = {record_work(locations, tmp_path / "ws", n) for n in range(50)}
    bad = [record_work(locations, tmp_path / "ws", 100 + n) for n in range(3)]
    damage = [
        lambda data: data.replace(b"\n", b"\n{not json\n", 3),  # a garbage line mid-journal
        lambda data: data.replace(b'"line 0', b'"\xff\xfe 0', 1),  # invalid UTF-8
        lambda data: data.replace(b'"rangeOffset":', b'"rangeOffset":"x","was":', 1),  # schema-invalid field
    ]
    for session, harm in zip(bad, damage, strict=True):
        segment = segments(locations.sessions_dir / session)[0]
        segment.write_bytes(harm(segment.read_bytes()))
    out = tmp_path / "dataset"
    result = build(str(locations.data_dir), "--out", str(out), "--workers", "2", "--engine", engine)
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert result.stdout.startswith("50 sessions -> ")
    assert "dataset: 53/53 sessions serialized" in result.stderr  # plain progress lines, not a bar, in a pipe
    for session in bad:
        assert f"quarantined {session}: " in result.stderr
    quarantine = [orjson.loads(line) for line in (out / "quarantine.jsonl").read_bytes().splitlines()]
    assert sorted(q["what"] for q in quarantine) == sorted(bad)
    report = orjson.loads((out / "report.json").read_bytes())
    assert {s["session"] for s in report["sessions"]} == good
    assert {r["provenance"]["session"] for rs in examples(out).values() for r in rs} == good


def test_s3_store_and_ray_engine_byte_identical(privacy_home: Locations, tmp_path: Path, s3_endpoint: str) -> None:
    """The server stores into S3 (moto); the build reads the bucket, locally and on a local Ray
    (writing back to the bucket), and both write the same bytes."""
    import boto3
    import pyarrow as pa
    import pyarrow.parquet as pq

    from crowdcode_sdk.server import BundleStore, RunningServer

    endpoint = s3_endpoint
    server = RunningServer(BundleStore("s3://crowd/ingest", {"client_kwargs": {"endpoint_url": endpoint}}))
    try:
        configure(privacy_home, **{"consent.status": "accepted", "upload.url": server.url})
        for person in range(2):
            new_contributor(privacy_home)
            for n in range(2):
                record_work(privacy_home, tmp_path / "ws", person * 10 + n)
            assert Uploader(privacy_home).run_once().sent == 2  # a bundle per session
    finally:
        server.close()
    out = tmp_path / "local"
    args = ("s3://crowd/ingest", "--endpoint-url", endpoint, "--workers", "2", "--val-ratio", "0.5")
    assert build(*args, "--out", str(out)).stdout.startswith("4 sessions -> ")
    local = {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.suffix in (".jsonl", ".parquet") and ".work" not in p.parts
    }
    # Ray writes to the bucket too.
    assert build(*args, "--engine", "ray", "--out", "s3://crowd/datasets/v1").stdout.startswith("4 sessions -> ")
    bucket = boto3.client("s3", endpoint_url=endpoint)
    listed = bucket.list_objects_v2(Bucket="crowd", Prefix="datasets/v1/")["Contents"]
    remote = {
        o["Key"].removeprefix("datasets/v1/"): bucket.get_object(Bucket="crowd", Key=o["Key"])["Body"].read()
        for o in listed
        if o["Key"].endswith((".jsonl", ".parquet"))
    }
    assert "datasets/v1/report.json" in {o["Key"] for o in listed}
    assert not any("/.work/" in o["Key"] for o in listed)
    outputs = {"local": local, "ray": remote}
    assert outputs["local"] == outputs["ray"]
    assert any(name.startswith("data/") for name in outputs["local"])

    # A revocation applied to the dataset in the bucket: its JSONL and Parquet lose the examples.
    # The two contributors' pseudonyms are random, so either split may be the empty one.
    split = max(("training.jsonl", "validation.jsonl"), key=lambda name: len(remote[name]))
    session = orjson.loads(remote[split].splitlines()[0])["provenance"]["session"]
    revocations = tmp_path / "revoked.txt"
    revocations.write_text(session + "\n")
    run_cli(
        "dataset", "delete", "s3://crowd/datasets/v1", "--revocations", str(revocations), "--endpoint-url", endpoint
    )
    listed = bucket.list_objects_v2(Bucket="crowd", Prefix="datasets/v1/")["Contents"]
    after = {o["Key"]: bucket.get_object(Bucket="crowd", Key=o["Key"])["Body"].read() for o in listed}
    assert session.encode() not in after[f"datasets/v1/{split}"]
    assert len(after[f"datasets/v1/{split}"]) < len(remote[split])
    shards = [key for key in after if key.startswith("datasets/v1/data/")]
    rows = [r for key in shards for r in pq.read_table(pa.BufferReader(after[key])).to_pylist()]
    assert rows and session not in {r["session"] for r in rows}
    assert orjson.loads(after["datasets/v1/revocations.json"])["revoked"]


def test_the_summary_counts_timelines_too_short_for_an_example(locations: Locations, tmp_path: Path) -> None:
    record_work(locations, tmp_path / "ws", 1)
    out = tmp_path / "dataset"
    args = ("dataset", "build", str(locations.data_dir), "--out", str(out), "--no-plots", "--workers", "1")
    result = run_cli(*args, "--min-conversation-messages", "99", timeout=120)
    assert result.stdout.startswith(
        f"1 sessions -> 0 training + 0 validation examples (1 timeline shorter than --min-conversation-messages 99 "
        f"gave none) in {out}; "
    )
    card = (out / "README.md").read_text()
    assert "| examples | train 0, validation 0 |" in card and "{" not in card.split("## Counts")[1]
    shutil.rmtree(out)
    assert "shorter than" not in run_cli(*args, timeout=120).stdout


def test_a_progress_bar_on_a_terminal(locations: Locations, tmp_path: Path) -> None:
    """On a terminal the build draws a bar (tqdm) counting sessions, and still ends with its one
    summary line."""
    import pexpect

    for n in range(3):
        record_work(locations, tmp_path / "ws", n)
    out = tmp_path / "dataset"
    argv = ["dataset", "build", str(locations.data_dir), "--out", str(out), "--no-plots", "--workers", "1"]
    child = pexpect.spawn(crowdcode_executable(), argv, env=dict(os.environ), timeout=120, encoding="utf-8")
    child.logfile_read = screen = io.StringIO()
    child.expect_exact("3/3 [")
    child.expect_exact("session/s]")
    child.expect_exact("3 sessions -> ")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "dataset: " not in screen.getvalue()  # a bar, not the plain lines of logs and pipes
