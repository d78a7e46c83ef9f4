-- Errors in the plugin's own callbacks must not reach the user on every key: each callback runs
-- protected; the first error stops recording with one message, and the failing callback removes
-- itself (a `true` return detaches a buffer callback and deletes an autocommand).
local M = {}

--- Called once, with the first error (set by init.lua).
M.on_error = nil ---@type fun(err: string)?
local failed = false

function M.wrap(fn)
  return function(...)
    local ok, result = pcall(fn, ...)
    if ok then
      return result
    end
    if not failed then
      failed = true
      vim.schedule(function()
        if M.on_error then
          M.on_error(tostring(result))
        end
      end)
    end
    return true
  end
end

function M.reset()
  failed = false
end

return M
