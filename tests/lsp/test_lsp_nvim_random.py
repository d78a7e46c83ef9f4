"""Random real sessions through the LSP shim with Neovim's own LSP client (no crowdcode plugin):
random keystrokes over a workspace of awkward files (CRLF, no final newline, empty, non-BMP text, a
byte order mark, 5,000 lines), files switched, saved, created mid-session and deleted by another
process, then saved and quit as a person does. The recording must verify, and its training text,
run with bash and GNU sed from the session's initial workspace, must print what the conversation
says, leave each file as each save and change recorded it, and end with the bytes on disk."""

from __future__ import annotations

import random
from pathlib import Path

import pynvim
import pytest

from crowdcode_sdk.serialize.sources import resolve
from crowdcode_sdk.verification import verify
from tests.conftest import only_session
from tests.nvim_driver import nvim_argv, quit_editor, wait_for
from tests.recordings import disk_files, sed_rebuild
from tests.test_nvim_random import FILES, TEXTS, random_keys

from .lsp_harness import SERVER

pytestmark = pytest.mark.timeout(300)

SEEDS = range(1, 5)
COMMANDS = 80

ATTACH = """
local cmd, root = ...
local function attach(buf)
  if vim.bo[buf].buftype ~= "" then return end
  vim.lsp.start({
    name = "crowdcode",
    cmd = cmd,
    root_dir = root,
    flags = { debounce_text_changes = 0 },
  }, { bufnr = buf })
end
vim.api.nvim_create_autocmd({ "BufReadPost", "BufNewFile" }, { callback = function(args) attach(args.buf) end })
attach(vim.api.nvim_get_current_buf())
"""

INITIALIZED = """
local client = vim.lsp.get_clients({ name = "crowdcode" })[1]
return client ~= nil and client.initialized == true
"""

CAUGHT_UP = """
local client = vim.lsp.get_clients({ name = "crowdcode" })[1]
local answer = client.request_sync("crowdcode/getStatus", {}, 20000, 0)
return answer ~= nil and answer.result ~= nil and answer.result.recording == true
"""


def caught_up(nvim: pynvim.Nvim) -> None:
    """Wait until the shim has handled everything Neovim sent so far (it answers in order), as
    it has by the time a person types the next command."""
    nvim.eval("1")  # answered once Neovim has processed the typed keys
    assert nvim.exec_lua(CAUGHT_UP), "the shim did not answer its status request"


@pytest.mark.parametrize("seed", SEEDS)
def test_random_lsp_session_rebuilds_with_gnu_sed(home: Path, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    ws = tmp_path / "ws"
    ws.mkdir()
    for name, data in FILES.items():
        (ws / name).write_bytes(data)
    names = sorted(FILES)
    start = rng.choice(names)
    delete_at, create_at = rng.randrange(COMMANDS), rng.randrange(COMMANDS)
    created: list[str] = []
    ops: list[str] = [f"nvim {start}"]
    nvim = pynvim.attach("child", argv=nvim_argv("--cmd", f"cd {ws}", str(ws / start)))
    pid = nvim.call("getpid")
    try:
        nvim.exec_lua(ATTACH, [*SERVER, "--log-file", str(tmp_path / "lsp.log")], str(ws))
        wait_for(lambda: nvim.exec_lua(INITIALIZED), what="the LSP client to initialize")
        caught_up(nvim)
        for step in range(COMMANDS):
            if step == delete_at:
                (ws / "doomed.txt").unlink(missing_ok=True)
                ops.append("<another process deletes doomed.txt>")
            if step == create_at:
                name = f"new{step}.txt"
                keys = f":e {name}<CR>i{rng.choice(TEXTS)} new<Esc>:w<CR>"
                created.append(name)
            else:
                keys = random_keys(rng, names, created)
            ops.append(keys)
            nvim.input(keys)
            caught_up(nvim)
        nvim.input("<Esc>:wa<CR>")
        ops.append(":wa<CR>")
        caught_up(nvim)
    finally:
        quit_editor(nvim, pid)
    trace = f"seed {seed}: {ops}"
    info = only_session(ended=True)
    verdict = verify(info)
    assert verdict.ok, f"{verdict.summary()}\n{[m.to_json() for m in verdict.mismatches[:5]]}\n{trace}"

    [source] = resolve([info.id])
    rebuilt, result = sed_rebuild(source, tmp_path / "sed")
    assert result.steps, trace
    on_disk = disk_files(ws)
    for rel, data in on_disk.items():
        assert rebuilt.get(rel) == data, f"{rel}: GNU sed rebuilt {rebuilt.get(rel)!r:.80}, on disk {data[-60:]!r}\n{trace}"
