-- Batches events for the recorder: nothing is sent on the typing path itself. The first event
-- after a flush arms a one-shot timer (`delay_ms`, 20 ms by default); when it fires, everything
-- queued since leaves as one vim.rpcnotify. A person's keys (tens of ms apart) still arrive within
-- milliseconds; a burst (a macro, a paste, very fast typing) leaves as one message.
local M = {}

local items, count = {}, 0
local armed = false
local timer = nil

--- Called with each batch; set by the host module.
M.sink = nil
--- Called just before a batch leaves (finishes undo/redo classification).
M.before_flush = nil
--- Past this many queued events the batch is sent at once (bounds memory during huge macros).
M.max_batch = 2000
M.delay_ms = 20

function M.flush()
  armed = false
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
    timer = timer or vim.uv.new_timer()
    timer:start(M.delay_ms, 0, flush_soon)
  end
end

function M.clear()
  items, count = {}, 0
end

return M
