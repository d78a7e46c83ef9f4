-- The recorder process: `crowdcode nvim`, started as an RPC job. Everything goes to it as
-- notifications (vim.rpcnotify never waits for an answer); it answers the same way, by calling
-- require('crowdcode')._from_host(). If it is missing or dies, the user is told once, Neovim goes
-- on as if the plugin were not there, and a crashed recorder is restarted once.
local queue = require('crowdcode.queue')

local fn = vim.fn
local M = {}

M.channel = nil ---@type integer?
M.stderr = {} ---@type string[] the recorder's last stderr lines, for :CrowdcodeStatus
M.restarts = 0
M.max_restarts = 1
local on_crash = nil ---@type fun(code: integer)?
local stopping = {} ---@type integer[] recorders asked to stop (they exit on their own)
local exited = {} ---@type table<integer, true> jobs whose exit was seen

local function notify(message, level)
  vim.schedule(function()
    vim.notify('crowdcode: ' .. message, level or vim.log.levels.WARN)
  end)
end
M.notify = notify

local function on_stderr(_, data)
  for _, line in ipairs(data or {}) do
    if line ~= '' then
      table.insert(M.stderr, line)
      if #M.stderr > 20 then
        table.remove(M.stderr, 1)
      end
    end
  end
end

local function on_exit(id, code)
  exited[id] = true
  if id ~= M.channel then -- a recorder we stopped
    return
  end
  M.channel = nil
  queue.sink = nil
  if on_crash then
    on_crash(code)
  end
end

--- Start the recorder. Returns true when the job runs; otherwise the reason as a second value.
---@param cmd string[]
---@param hello table first notification: who we are
---@param crash fun(code: integer) called when the recorder exits without being asked to
function M.start(cmd, hello, crash)
  if M.channel then
    return true
  end
  if fn.executable(cmd[1]) ~= 1 then
    return false, ('`%s` is not an executable program'):format(cmd[1])
  end
  on_crash = crash
  -- Detached: Neovim neither waits for it nor kills it when it exits, so that quitting costs no
  -- more than without the plugin while the recorder writes the end of the session on its own.
  local ok, id = pcall(fn.jobstart, cmd, { rpc = true, detach = true, on_stderr = on_stderr, on_exit = on_exit })
  if not ok or id <= 0 then
    return false, ('cannot start `%s`: %s'):format(table.concat(cmd, ' '), ok and id or tostring(id))
  end
  M.channel = id
  queue.sink = function(batch)
    M.send('crowdcode_events', batch)
  end
  M.send('crowdcode_hello', hello)
  return true
end

--- Notify the recorder; never raises (a dead channel is reported by on_exit).
function M.send(method, ...)
  if M.channel then
    pcall(vim.rpcnotify, M.channel, method, ...)
  end
end

--- Ask the recorder to close its session and exit; kill it if it has not after a while.
function M.stop()
  local channel = M.channel
  if not channel then
    return
  end
  queue.flush()
  M.send('crowdcode_stop')
  M.channel = nil
  queue.sink = nil
  stopping[#stopping + 1] = channel
  vim.defer_fn(function()
    pcall(fn.jobstop, channel)
  end, 3000)
end

--- Forget the recorder: it ends on its own (told bye), and its exit is not a crash.
function M.release()
  M.channel = nil
  queue.sink = nil
end

--- At exit: the recorder is told (bye) and left to close its session and exit on its own: it is
--- detached, so Neovim's exit waits for nothing. A stopped recorder (SIGSTOP) gets SIGCONT, so
--- that it does not stay behind; one that hangs ends itself (see adapters/crowdcode_nvim/cli.py).
--- Nothing is restarted from now on.
function M.leave()
  on_crash = nil
  local channel = M.channel
  if channel then
    queue.flush()
    M.send('crowdcode_bye')
    M.release()
    stopping[#stopping + 1] = channel
  end
  for _, id in ipairs(stopping) do
    if not exited[id] then
      local ok, pid = pcall(fn.jobpid, id)
      if ok and pid > 0 then
        vim.uv.kill(pid, 'sigcont')
      end
    end
  end
  stopping = {}
end

return M
