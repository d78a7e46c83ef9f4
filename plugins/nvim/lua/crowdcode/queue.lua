-- Batches events for the recorder: nothing is sent on the typing path itself. Events leave as one
-- vim.rpcnotify when Neovim is next idle, but at most once per `delay_ms` (20 ms by default): a
-- person's keys (tens of ms apart) each leave at once, so the recorder's timestamps are within a
-- millisecond or two of the key; a burst (a macro, a paste, very fast typing) leaves in batches.
local M = {}

local items, count = {}, 0
local armed = false
local timer = nil
local last_flush = 0 -- vim.uv.now() of the last flush

--- Called with each batch; set by the host module.
M.sink = nil
--- Called just before a batch leaves (finishes undo/redo classification).
M.before_flush = nil
--- Past this many queued events the batch is sent at once (bounds memory during huge macros).
M.max_batch = 2000
M.delay_ms = 20

function M.flush()
  armed = false
  last_flush = vim.uv.now()
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

local flush_soon = vim.schedule_wrap(M.flush)

function M.push(event)
  count = count + 1
  items[count] = event
  if count >= M.max_batch then
    M.flush()
  elseif not armed then
    armed = true
    local wait = M.delay_ms - (vim.uv.now() - last_flush)
    if wait <= 0 then
      vim.schedule(M.flush)
    else
      timer = timer or vim.uv.new_timer()
      timer:start(wait, 0, flush_soon)
    end
  end
end

function M.clear()
  items, count = {}, 0
end

return M
