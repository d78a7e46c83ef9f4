-- Batches events for the host: nothing is sent on the typing path itself. The first event of an
-- editor "tick" schedules one flush for when Neovim is next idle, so a burst of keys (a macro, a
-- paste, fast typing) leaves as one rpcnotify while slow typing still arrives within milliseconds.
local M = {}

local items, count = {}, 0
local scheduled = false

--- Called with each batch; set by the host module. Returns nothing.
M.sink = nil
--- Called just before a batch leaves (finishes undo/redo classification).
M.before_flush = nil
--- Past this many queued events the batch is sent at once (bounds memory during huge macros).
M.max_batch = 2000

function M.flush()
  scheduled = false
  if M.before_flush then
    M.before_flush()
  end
  if count == 0 then
    return
  end
  local batch = items
  items, count = {}, 0
  if M.sink then
    M.sink(batch)
  end
end

function M.push(event)
  count = count + 1
  items[count] = event
  if count >= M.max_batch then
    M.flush()
  elseif not scheduled then
    scheduled = true
    vim.schedule(M.flush)
  end
end

function M.clear()
  items, count = {}, 0
end

return M
