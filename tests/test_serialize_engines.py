"""Every engine runs the same per-session code and writes identical files; Ray on a local Ray."""

from __future__ import annotations

import pytest

from crowdcode_sdk.serialize.cli import write_dataset
from crowdcode_sdk.serialize.dataset import DatasetConfig
from crowdcode_sdk.serialize.sources import resolve
from tests.test_serialize_replay import record_tricky, record_worked_example


def outputs(directory):
    return {name: (directory / name).read_bytes() for name in ("training.jsonl", "validation.jsonl")}


@pytest.mark.unverified(
    reason="the tricky recording opens src/app.py without its text on purpose (the viewport fallback)"
)
def test_local_and_ray_engines_agree(home, tmp_path):
    for n in range(2):
        record_worked_example(tmp_path / f"ws{n}")
        record_tricky(tmp_path / f"tricky{n}")
    sources = resolve([str(home / "data")])
    assert len(sources) == 4
    config = DatasetConfig(min_messages=2, val_ratio=0.5)
    runs = {}
    for name, engine, workers in [("serial", "local", 1), ("pool", "local", 2), ("ray", "ray", 2)]:
        out = tmp_path / name
        out.mkdir()
        metadata = write_dataset(sources, config, out, engine=engine, workers=workers)
        assert metadata["totals"]["sessions"] == 4 and metadata["totals"]["engine"] == engine
        runs[name] = outputs(out)
    # The split hashes random session ids, so all four may land on one side: count both sides.
    conversations = runs["serial"]["training.jsonl"] + runs["serial"]["validation.jsonl"]
    assert conversations.count(b"\n") >= 4
    assert runs["pool"] == runs["serial"]
    assert runs["ray"] == runs["serial"]
