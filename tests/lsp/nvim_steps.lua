-- Driven by test_lsp_nvim_saves.py: Neovim's built-in LSP client, with its default didChange
-- debounce unless TEST_DEBOUNCE says otherwise, talks to `crowdcode lsp` while a list of steps runs.
-- Inputs (environment): TEST_FILES (JSON list, the first is shown),
-- TEST_STEPS (JSON list of {keys=...} | {cmd=...} | {wait=ms} | {shell=...} | {sync=true} |
-- {touch=path} | {until_exists=path}), and nvim_lsp_client.lua's. {touch} and {until_exists} hand over
-- to the test and back (it changes files from a recorded shell meanwhile). {sync=true} returns once the server has handled everything sent before it (it
-- answers requests in order): the buffers' didOpen, however large.
local lsp = dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, "S").source:sub(2)), "nvim_lsp_client.lua"))
local result, fail = lsp.result, lsp.fail

local files = vim.json.decode(os.getenv("TEST_FILES"))
for i = #files, 1, -1 do
  vim.cmd.edit(vim.fn.fnameescape(files[i]))
end
local config = { root_dir = vim.fs.dirname(files[1]) }
local debounce = os.getenv("TEST_DEBOUNCE")
if debounce then
  config.flags = { debounce_text_changes = tonumber(debounce) }
end
local client_id, status = lsp.start(config, vim.api.nvim_list_bufs())
if not client_id then return fail(status) end

for _, step in ipairs(vim.json.decode(os.getenv("TEST_STEPS"))) do
  if step.keys then
    vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(step.keys, true, false, true), "xt", false)
  elseif step.cmd then
    vim.cmd(step.cmd)
  elseif step.shell then
    vim.fn.system(step.shell)
    if vim.v.shell_error ~= 0 then return fail("shell step failed: " .. step.shell) end
  elseif step.sync then
    local response = vim.lsp.get_client_by_id(client_id):request_sync("crowdcode/getStatus", {}, 30000)
    if not response or response.err then return fail("crowdcode/getStatus failed") end
  elseif step.touch then
    assert(io.open(step.touch, "w")):close()
  elseif step.until_exists then
    if not vim.wait(60000, function() return vim.uv.fs_stat(step.until_exists) ~= nil end, 20) then
      return fail("the test did not hand back")
    end
  elseif step.wait then
    vim.wait(step.wait)
  end
end
result.buffers = {}
for _, buf in ipairs(vim.api.nvim_list_bufs()) do
  if vim.api.nvim_buf_is_loaded(buf) and vim.api.nvim_buf_get_name(buf) ~= "" then
    local name = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(buf), ":t")
    result.buffers[name] = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, true), "\n") .. "\n"
  end
end
if not lsp.stop(client_id) then return fail("the server did not stop") end
lsp.finish(0)
