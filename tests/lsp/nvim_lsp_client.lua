-- Shared by the scripts that drive Neovim's built-in LSP client against `crowdcode lsp`
-- (nvim_edit.lua, nvim_steps.lua): the result file the test reads, and starting and stopping the
-- client the way both do, so that a change to how the client is set up is made once.
-- Inputs (environment): TEST_CMD (JSON list, the server's command), TEST_OUT (result JSON).
local M = { result = { log = {} } }

-- Writes the result and quits Neovim with `code`, which the test asserts.
function M.finish(code)
  local f = assert(io.open(os.getenv("TEST_OUT"), "w"))
  f:write(vim.json.encode(M.result))
  f:close()
  vim.cmd((code == 0) and "qa!" or "cquit " .. code)
end

function M.fail(message)
  M.result.error = message
  M.finish(1)
end

-- Starts one client named crowdcode on `buffers` (the current buffer if nil) with crowdcode's
-- status notifications on and the server's log kept in the result; `config` adds to the client
-- configuration. Returns the client's id and the first status once the server has initialized and
-- sent it, or nil and why not.
function M.start(config, buffers)
  local statuses = {}
  config = vim.tbl_extend("force", config, {
    name = "crowdcode",
    cmd = vim.json.decode(os.getenv("TEST_CMD")),
    init_options = { status = true },
    handlers = {
      ["crowdcode/status"] = function(_, params) table.insert(statuses, params) end,
      ["window/logMessage"] = function(_, params) table.insert(M.result.log, params.message) end,
    },
  })
  local client_id
  for _, buf in ipairs(buffers or { vim.api.nvim_get_current_buf() }) do
    client_id = vim.lsp.start(config, { bufnr = buf })
  end
  if not client_id then return nil, "vim.lsp.start failed" end
  if not vim.wait(15000, function()
    local client = vim.lsp.get_client_by_id(client_id)
    return client ~= nil and client.initialized and #statuses > 0
  end, 20) then
    return nil, "the server did not initialize"
  end
  return client_id, statuses[1]
end

-- Stops the client and waits until it has gone (the server has answered shutdown and exited).
function M.stop(client_id)
  vim.lsp.stop_client(client_id)
  return vim.wait(10000, function() return vim.lsp.get_client_by_id(client_id) == nil end, 20)
end

return M
