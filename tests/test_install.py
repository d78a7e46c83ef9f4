"""The wheel, installed as README's "Use it every day" says, works with no checkout.

A wheel is built from this tree (``python -m build``), installed with pip into a fresh venv, and
the installed ``crowdcode`` is run from a folder outside the repository with PYTHONPATH removed,
so that nothing of the checkout can stand in for what the wheel lacks. Neovim is started with only
the lines ``crowdcode nvim --print-spec`` prints, pointing into the installed package.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pynvim
import pytest

from crowdcode_sdk import apply_changes
from crowdcode_sdk.store import Store

from .conftest import ROOT, only_session
from .nvim_driver import nvim_binary, quit_editor, wait_for


def outside_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that points into the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT)))
    return {**env, **extra}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=240,
    )
    (built,) = out.glob("crowdcode-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bin directory of a fresh venv holding ``crowdcode[nvim]`` from the wheel."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", f"{wheel}[nvim]"],
        check=True,
        capture_output=True,
        env=outside_env(),
        timeout=300,
    )
    yield venv / "bin"


def run_installed(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "crowdcode"), *args],
        cwd=cwd,
        env=outside_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_wheel_carries_the_license_and_the_neovim_plugin(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    assert "crowdcode-0.1.0.dist-info/licenses/LICENSE" in names
    assert "crowdcode_nvim/plugin/lua/crowdcode/init.lua" in names
    assert not [n for n in names if n.startswith(("tests/", "plugins/", "benchmarks/"))]


def test_help_lists_every_subcommand_with_a_description(installed: Path, tmp_path: Path):
    result = run_installed(installed, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no adapter failed to load
    for command in ("shell", "nvim", "lsp", "status", "sessions", "panic", "config", "serve", "upload"):
        assert f"    {command} " in result.stdout or f"    {command}\n" in result.stdout
        sub = run_installed(installed, command, "--help", cwd=tmp_path)
        usage, _, rest = sub.stdout.partition("\n\n")
        assert sub.returncode == 0 and usage.startswith(f"usage: crowdcode {command}")
        assert rest.split("\n", 1)[0] and not rest.startswith(("positional", "options")), sub.stdout


def test_shell_records_one_session_from_outside_the_repository(installed: Path, home: Path, tmp_path: Path):
    result = run_installed(installed, "shell", "--", "true", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    session = only_session(ended=True)
    assert session.metadata["adapter"] == "shell"


def test_crowdcode_is_on_path_inside_the_recorded_shell(installed: Path, home: Path, tmp_path: Path):
    """README's first command runs .venv/bin/crowdcode shell with crowdcode not on PATH."""
    assert not (Path("/usr/bin") / "crowdcode").exists()
    result = subprocess.run(
        [str(installed / "crowdcode"), "shell", "--", "sh", "-c", "command -v crowdcode"],
        cwd=tmp_path,
        env=outside_env(PATH="/usr/bin:/bin"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(installed / "crowdcode")
    only_session(ended=True)


def test_neovim_records_with_only_the_printed_spec(installed: Path, home: Path, tmp_path: Path):
    spec = run_installed(installed, "nvim", "--print-spec", cwd=tmp_path)
    assert spec.returncode == 0, spec.stderr
    plugin = str(installed.parent / "lib")
    assert plugin in spec.stdout  # the plugin inside the installed package, not the checkout
    assert str(ROOT) not in spec.stdout
    # The doc's second way: no plugin manager, the printed lines in init.lua.
    init = tmp_path / "init.lua"
    init.write_text(spec.stdout.split("-- or, without a plugin manager, in init.lua:\n", 1)[1])
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.txt").write_text("one\n")
    argv = ["env", "-u", "PYTHONPATH", str(nvim_binary()), "--embed", "--headless", "-u", str(init), "-i", "NONE"]
    nvim = pynvim.attach("child", argv=[*argv, "-n", "--cmd", f"cd {ws}", str(ws / "a.txt")])
    pid = nvim.call("getpid")
    try:
        wait_for(lambda: nvim.exec_lua("return require('crowdcode').state") == "recording", what="recording")
        messages = nvim.exec_lua("return vim.fn.execute('messages')")
        assert "recording locally; see :CrowdcodeConsent" in messages  # the consent question, on the first start
        nvim.input("ggIzero <Esc>")
        nvim.eval("1")
        nvim.exec_lua("require('crowdcode.queue').flush()")
    finally:
        quit_editor(nvim, pid)
    session = only_session(ended=True)
    assert session.metadata["adapter"] == "nvim"
    text = "one\n"
    for event in Store().events(session):
        if event.kind == "edit":
            text = apply_changes(text, [event.payload.diff])
    assert text == "zero one\n"


def test_a_missing_extra_is_one_line_naming_the_install_command(installed: Path, tmp_path: Path):
    result = run_installed(installed, "lsp", "--tcp", "nowhere", cwd=tmp_path)  # installed without [lsp]
    assert result.returncode == 2
    command = f"{installed / 'python'} -m pip install 'crowdcode[lsp]'"
    assert result.stderr == f"crowdcode: error: crowdcode lsp needs pygls, from the 'lsp' extra: {command}\n"
    # The command, typed as printed, installs the extra into this install (crowdcode itself is not
    # on PyPI: pip takes the extra from the installed wheel).
    subprocess.run(command, shell=True, check=True, capture_output=True, env=outside_env(), timeout=300)
    result = run_installed(installed, "lsp", "--tcp", "nowhere", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, "crowdcode: error: --tcp: expected HOST:PORT, got 'nowhere'\n")


def test_a_dataset_command_without_its_extra_is_one_line(installed: Path, tmp_path: Path):
    for command in (["build", str(tmp_path), "--out", str(tmp_path / "ds")], ["delete", "ds", "--revocations", "-"]):
        result = run_installed(installed, "dataset", *command, cwd=tmp_path)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr == (
            f"crowdcode: error: crowdcode dataset {command[0]} needs fsspec, from the 'dataset' extra: "
            f"{installed / 'python'} -m pip install 'crowdcode[dataset]'\n"
        )
