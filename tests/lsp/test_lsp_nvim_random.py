"""Random real sessions through the LSP shim with Neovim's own LSP client (no crowdcode plugin):
random keystrokes over a workspace of awkward files (CRLF, no final newline, empty, non-BMP text, a
byte order mark, 5,000 lines), files switched, saved, created mid-session and deleted by another
process, then saved and quit as a person does. The recording must verify, and its training text,
run with bash and GNU sed from the session's initial workspace, must print what the conversation
says, leave each file as each save and change recorded it, and end with the bytes on disk."""

from __future__ import annotations

from pathlib import Path

import pynvim
import pytest

from crowdcode_sdk.serialize.sources import resolve
from crowdcode_sdk.verification import verify
from tests.conftest import only_session
from tests.nvim_driver import nvim_argv, quit_editor, wait_for
from tests.recordings import disk_files, sed_rebuild
from tests.test_nvim_random import awkward_workspace, random_commands

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
    rng, ws, names, start = awkward_workspace(tmp_path, seed)
    nvim = pynvim.attach("child", argv=nvim_argv("--cmd", f"cd {ws}", str(ws / start)))
    pid = nvim.call("getpid")
    try:
        nvim.exec_lua(ATTACH, [*SERVER, "--log-file", str(tmp_path / "lsp.log")], str(ws))
        wait_for(lambda: nvim.exec_lua(INITIALIZED), what="the LSP client to initialize")
        ops = [f"nvim {start}", *random_commands(nvim, ws, rng, names, COMMANDS, caught_up)]
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
        assert rebuilt.get(rel) == data, (
            f"{rel}: GNU sed rebuilt {rebuilt.get(rel)!r:.80}, on disk {data[-60:]!r}\n{trace}"
        )
