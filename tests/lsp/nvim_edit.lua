-- Driven by test_lsp_nvim.py: Neovim's built-in LSP client edits a file through `crowdcode lsp`.
-- Inputs (environment): TEST_FILE, TEST_ENCODING, and nvim_lsp_client.lua's.
local file = os.getenv("TEST_FILE")
local lsp = dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, "S").source:sub(2)), "nvim_lsp_client.lua"))
local result = lsp.result

local function keys(sequence)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(sequence, true, false, true), "xt", false)
end

vim.cmd.edit(vim.fn.fnameescape(file))
local capabilities = vim.lsp.protocol.make_client_capabilities()
capabilities.general.positionEncodings = { os.getenv("TEST_ENCODING") }
local client_id, status = lsp.start({
  root_dir = vim.fs.dirname(file),
  capabilities = capabilities,
  flags = { debounce_text_changes = 0 },
})
if not client_id then return lsp.fail(status) end
result.offset_encoding = vim.lsp.get_client_by_id(client_id).offset_encoding
result.status = status

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
if not lsp.stop(client_id) then return lsp.fail("the server did not stop") end
result.buffer = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, true), "\n") .. "\n"
lsp.finish(0)
