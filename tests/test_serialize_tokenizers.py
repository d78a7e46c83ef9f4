"""Token limits through a pluggable tokenizer: the byte estimate and a local tokenizer.json."""

from __future__ import annotations

import orjson
import pytest

from crowdcode_sdk.cli.main import main
from crowdcode_sdk.serialize.tokens import TRUNCATED, ByteEstimate, HuggingFaceTokenizer, truncate
from tests.test_serialize_replay import record_worked_example


def test_byte_estimate_counts_utf8_bytes():
    tokenizer = ByteEstimate()
    assert tokenizer.count("abcd") == 1 and tokenizer.count("abcde") == 2
    assert tokenizer.count("😀") == 1  # four UTF-8 bytes
    cut = truncate(tokenizer, "x" * 100, 10)
    assert cut.endswith(TRUNCATED) and tokenizer.count(cut) <= 10
    assert truncate(tokenizer, "short", 10) == "short"


@pytest.fixture
def tokenizer_json(tmp_path):
    """A small BPE tokenizer trained here (nothing is downloaded) and saved as tokenizer.json."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel()
    corpus = ["def add(a, b):\n    return a + b\n", "cat -n src/app.py | sed -n '1,5p'", "<stdout>2 passed</stdout>"]
    tokenizer.train_from_iterator(corpus * 20, trainers.BpeTrainer(vocab_size=300, special_tokens=["[UNK]"]))
    path = tmp_path / "tok" / "tokenizer.json"
    path.parent.mkdir()
    tokenizer.save(str(path))
    return path


def test_hugging_face_tokenizer_limits(home, tmp_path, tokenizer_json):
    tokenizer = HuggingFaceTokenizer(tokenizer_json.parent)  # the directory works too
    text = "def add(a, b):\n    return a + b\n" * 20
    assert tokenizer.count(text) > 20
    cut = truncate(tokenizer, text, 15)
    assert cut.endswith(TRUNCATED) and text.startswith(cut.removesuffix(TRUNCATED))
    assert tokenizer.count(cut) <= 15 + 2  # the marker's tokens may merge differently at the seam

    record_worked_example(tmp_path / "ws")
    out = tmp_path / "out"
    args = ["serialize", "latest", "--out", str(out), "--tokenizer", str(tokenizer_json), "--val-ratio", "0"]
    assert main([*args, "--min-conversation-messages", "2", "--no-progress"]) == 0
    metadata = orjson.loads((out / "metadata.json").read_bytes())
    assert metadata["config"]["tokenizer"] == str(tokenizer_json)
    [line] = (out / "training.jsonl").read_bytes().splitlines()
    messages = orjson.loads(line)["conversations"]
    assert metadata["totals"]["train_tokens"] == sum(tokenizer.count(m["value"]) for m in messages)


def test_missing_tokenizer_is_a_clear_error(home, tmp_path, capsys):
    record_worked_example(tmp_path / "ws")
    args = ["serialize", "latest", "--out", str(tmp_path / "o"), "--tokenizer", str(tmp_path / "nope.json")]
    assert main(args) == 2
    assert "cannot load tokenizer" in capsys.readouterr().err
