-- Driven by test_lsp_nvim.py: Neovim's built-in LSP client edits a file through `crowdcode lsp`.
-- Inputs (environment): TEST_FILE, TEST_ENCODING, TEST_CMD (JSON list), TEST_OUT (result JSON).
local file = os.getenv("TEST_FILE")
local out_path = os.getenv("TEST_OUT")
local result = { log = {} }

local function finish(code)
  local f = assert(io.open(out_path, "w"))
  f:write(vim.json.encode(result))
  f:close()
  vim.cmd((code == 0) and "qa!" or "cquit " .. code)
end

local function fail(message)
  result.error = message
  finish(1)
end

local function keys(sequence)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(sequence, true, false, true), "xt", false)
end

vim.cmd.edit(vim.fn.fnameescape(file))
local capabilities = vim.lsp.protocol.make_client_capabilities()
capabilities.general.positionEncodings = { os.getenv("TEST_ENCODING") }
local statuses = {}
local client_id = vim.lsp.start({
  name = "crowdcode",
  cmd = vim.json.decode(os.getenv("TEST_CMD")),
  root_dir = vim.fs.dirname(file),
  capabilities = capabilities,
  init_options = { status = true },
  flags = { debounce_text_changes = 0 },
  handlers = {
    ["crowdcode/status"] = function(_, params) table.insert(statuses, params) end,
    ["window/logMessage"] = function(_, params) table.insert(result.log, params.message) end,
  },
})
if not client_id then return fail("vim.lsp.start failed") end
if not vim.wait(15000, function()
  local client = vim.lsp.get_client_by_id(client_id)
  return client ~= nil and client.initialized and #statuses > 0
end, 20) then
  return fail("the server did not initialize")
end
local client = vim.lsp.get_client_by_id(client_id)
result.offset_encoding = client.offset_encoding
result.status = statuses[1]

-- Typing, with multibyte characters and emoji on lines that already hold some.
keys("gg$a ça va 😀<Esc>")
keys("jA→🎉é<BS><BS>ü<Esc>")
keys("0x")                                   -- delete the line's first character (an emoji)
keys("Gonew line with 🧪 and ñ<CR>second<Esc>")
keys("ggJ")                                  -- join the first two lines
keys("2Gdd")                                 -- delete a whole line
keys("u")                                    -- and undo it
vim.cmd([[%s/é/E/ge]])
vim.api.nvim_buf_set_text(0, 0, 0, 0, 0, { "👋🏽 ", "" })
keys("G$i🚀<Esc>")
vim.wait(100)
vim.cmd("write")
vim.wait(300)
vim.lsp.stop_client(client_id)
if not vim.wait(10000, function() return vim.lsp.get_client_by_id(client_id) == nil end, 20) then
  return fail("the server did not stop")
end
result.buffer = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, true), "\n") .. "\n"
finish(0)
