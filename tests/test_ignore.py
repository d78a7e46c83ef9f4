"""Ignore rules: nested .gitignore, .git/info/exclude, .crowdcodeignore, secret globs, size cap,
binary files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from crowdcode_sdk.ignore import SECRET_GLOBS, IgnoreRules, Skip, is_secret


@pytest.mark.parametrize(
    "name",
    [
        ".env",
        ".env.local",
        "config/.env.production",
        "server.pem",
        "tls.key",
        "id_rsa",
        "id_ed25519.pub",
        ".netrc",
        "cert.crt",
        "store.p12",
        ".git-credentials",
        "prod.tfstate",
    ],
)
def test_secret_files(name: str) -> None:
    assert is_secret(name)


@pytest.mark.parametrize("name", ["env.py", "src/environment.ts", "keys.md", "README", "id.py", "netrc.txt"])
def test_ordinary_files_are_not_secret(name: str) -> None:
    assert not is_secret(name)


def test_secret_globs_are_one_list() -> None:
    assert ".env" in SECRET_GLOBS and "*.pem" in SECRET_GLOBS and "id_rsa*" in SECRET_GLOBS


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_rules_agree_with_git(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    _tree(
        root,
        {
            ".gitignore": "*.log\n!keep.log\nbuild/\n/top.txt\n",
            "a/.gitignore": "local/\n*.tmp\n!important.tmp\n",
            "a/local/x.py": "",
            "a/b/local/y.py": "",
            "a/src.py": "",
            "a/c.tmp": "",
            "a/important.tmp": "",
            "keep.log": "",
            "drop.log": "",
            "build/out.js": "",
            "sub/build/out.js": "",
            "top.txt": "",
            "a/top.txt": "",
            "excluded.md": "",
            "normal.md": "",
        },
    )
    (root / ".git/info/exclude").write_text("excluded.md\n")
    rules = IgnoreRules(root)
    walked = {p.relative_to(root).as_posix() for p in rules.walk()}
    listed = subprocess.run(
        ["git", "ls-files", "--others", "--cached", "--exclude-standard"], cwd=root, capture_output=True, text=True
    ).stdout.split()
    assert walked == set(listed)
    assert rules.ignored(root / "a/b/local/y.py") is Skip.IGNORED
    assert rules.ignored(root / "a/important.tmp") is None


def test_crowdcodeignore_and_secrets_are_never_walked(tmp_path: Path) -> None:
    _tree(tmp_path, {".crowdcodeignore": "private/\n", "private/notes.md": "", "ok.md": "", ".env": "", "k/id_rsa": ""})
    rules = IgnoreRules(tmp_path)
    assert {p.name for p in rules.walk()} == {".crowdcodeignore", "ok.md"}
    assert rules.ignored(tmp_path / ".env") is Skip.SECRET
    assert rules.ignored(tmp_path / "private/notes.md") is Skip.IGNORED


def test_editor_temp_files_are_ignored(tmp_path: Path) -> None:
    rules = IgnoreRules(tmp_path)
    for name in (".a.py.swp", "a.py~", "4913", "__pycache__/m.pyc", ".#a.py"):
        assert rules.ignored(tmp_path / name) is Skip.IGNORED, name


def test_invalidate_rereads_a_changed_gitignore(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("")
    rules = IgnoreRules(tmp_path)
    assert rules.ignored(tmp_path / "x.txt") is None
    (tmp_path / ".gitignore").write_text("x.txt\n")
    rules.invalidate(tmp_path)
    assert rules.ignored(tmp_path / "x.txt") is Skip.IGNORED


def test_read_notes_large_and_binary_files_without_decoding(tmp_path: Path) -> None:
    rules = IgnoreRules(tmp_path, max_bytes=100)
    (tmp_path / "big.txt").write_text("x" * 101)
    (tmp_path / "bin.dat").write_bytes(b"abc\0def")
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
    (tmp_path / "crlf.txt").write_bytes(b"a\r\nb\r\n")
    assert rules.read(tmp_path / "big.txt").skip is Skip.TOO_LARGE
    assert rules.read(tmp_path / "big.txt").data is None
    assert rules.read(tmp_path / "bin.dat").skip is Skip.BINARY
    assert rules.read(tmp_path / "latin1.txt").skip is Skip.BINARY
    assert rules.read(tmp_path / "crlf.txt").text == "a\r\nb\r\n"
    assert not rules.read(tmp_path / "missing.txt").exists
