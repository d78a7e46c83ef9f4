-- crowdcode for Neovim: records edits, cursor, selections, viewport, buffers, terminals and focus
-- through the `crowdcode nvim` recorder. See docs/nvim.md.
local buffers = require('crowdcode.buffers')
local guard = require('crowdcode.guard')
local host = require('crowdcode.host')
local queue = require('crowdcode.queue')
local track = require('crowdcode.track')

local api = vim.api
local M = {}

M.defaults = {
  cmd = { 'crowdcode', 'nvim' }, -- the recorder; a list, as for jobstart()
  enabled = true, -- start recording at setup (else wait for :CrowdcodeStart)
  sample_ms = 100, -- cursor and scroll events are gathered this long into one view message (transport only)
  flush_ms = 20, -- at most one message to the recorder per this many ms (bursts are batched)
  max_file_bytes = 16 * 1024 * 1024, -- larger buffers are not tracked
  start_timeout_ms = 10000, -- a recorder that has not answered by then is stopped (one message)
  statusline = { recording = '● REC', stopped = '', failed = '○ crowdcode', disabled = '' },
}

M.options = vim.deepcopy(M.defaults)

--- 'off' (never started), 'starting', 'recording', 'stopped', 'failed', 'disabled'
M.state = 'off'
M.session = nil ---@type string?
M.problem = nil ---@type string?
M.last_status = nil ---@type table? the recorder's last status answer
M.consent_text = nil ---@type string? what consent means, from the recorder

local function set_state(state, problem)
  M.state = state
  M.problem = problem
  pcall(api.nvim_exec_autocmds, 'User', { pattern = 'CrowdcodeState', modeline = false })
  vim.cmd.redrawstatus({ bang = true, mods = { emsg_silent = true } })
end

local function pause_capture()
  track.stop()
  buffers.disable()
  queue.clear()
end

local function hello()
  return {
    version = tostring(vim.version()),
    cwd = vim.fn.getcwd(),
    pid = vim.fn.getpid(),
  }
end

local function on_crash(code)
  pause_capture()
  if host.restarts < host.max_restarts then
    host.restarts = host.restarts + 1
    local said = host.stderr[#host.stderr]
    host.notify(
      ('the recorder stopped (exit %d%s); restarting it. Neovim is not affected.'):format(
        code,
        said and (': ' .. said) or ''
      )
    )
    M.start()
  else
    set_state('failed', ('the recorder stopped again (exit %d); recording is off'):format(code))
  end
end

-- A bug in the plugin's callbacks: stop recording, say so once, leave Neovim alone.
function guard.on_error(err)
  pause_capture()
  host.stop()
  set_state('failed', 'internal error: ' .. err)
  host.notify('recording stopped after an internal error (please report it): ' .. err, vim.log.levels.ERROR)
end

--- Start recording (:CrowdcodeStart).
function M.start()
  if host.channel or vim.v.exiting ~= vim.NIL then -- a recorder started while quitting holds the quit
    return
  end
  guard.reset()
  local ok, why = host.start(M.options.cmd, hello(), on_crash)
  if not ok then
    set_state('failed', why)
    host.notify(why .. '. Neovim works normally; nothing is recorded. Set `cmd` in require("crowdcode").setup{}.')
    return
  end
  set_state('starting')
  local channel = host.channel
  vim.defer_fn(function() -- a recorder that never answers must not collect events forever
    if M.state == 'starting' and host.channel == channel then
      pause_capture()
      host.stop()
      set_state('failed', 'the recorder did not answer')
      host.notify('the recorder did not answer; recording is off. Neovim is not affected.')
    end
  end, M.options.start_timeout_ms)
  buffers.max_bytes = M.options.max_file_bytes
  track.sample_ms = M.options.sample_ms
  queue.delay_ms = M.options.flush_ms
  buffers.enable()
  track.start()
end

--- Stop recording (:CrowdcodeStop): the recorder closes its session and exits.
function M.stop()
  if not host.channel then
    return
  end
  track.flush()
  queue.flush()
  pause_capture()
  host.stop()
  set_state('stopped')
end

--- Messages from the recorder (it calls this through nvim_exec_lua, asynchronously).
function M._from_host(message)
  local kind = message.type
  if kind == 'ready' then
    M.session = message.session
    M.consent_text = message.consent_text
    set_state('recording')
    if message.ask_consent then -- the recorder says so on the first start ever, while consent is pending
      -- Short enough for one line of an 80-column screen: a longer message at start-up makes
      -- Neovim ask the person to press Enter before they can type.
      host.notify('recording locally; see :CrowdcodeConsent', vim.log.levels.INFO)
    end
  elseif kind == 'disabled' then
    pause_capture()
    host.stop() -- the recorder waits for this to exit, so that its exit is never taken for a crash
    set_state('disabled', message.text)
    host.notify(message.text, vim.log.levels.INFO)
  elseif kind == 'status' then
    M.last_status = message
    host.notify(message.text, vim.log.levels.INFO)
  elseif kind == 'message' then
    host.notify(message.text, message.error and vim.log.levels.ERROR or vim.log.levels.INFO)
  elseif kind == 'resync' then
    buffers.resync(message.buf)
  elseif kind == 'sync' then
    -- A barrier: the token goes back behind every event queued so far (the save hint of a write
    -- the recorder is deciding among them), so the recorder knows none of them is still to come.
    queue.push({ 'synced', message.token })
    queue.flush()
  elseif kind == 'bye' then
    M.bye = true
  end
end

function M.status()
  if not host.channel then
    local lines = { ('crowdcode: %s%s'):format(M.state, M.problem and (' — ' .. M.problem) or '') }
    vim.list_extend(lines, host.stderr)
    host.notify(table.concat(lines, '\n'), vim.log.levels.INFO)
    return
  end
  queue.flush()
  host.send('crowdcode_command', 'status')
end

function M.panic()
  if not host.channel then
    host.notify('not recording; `crowdcode panic` in a shell removes recent data of every session')
    return
  end
  queue.flush()
  host.send('crowdcode_command', 'panic')
end

local CONSENT = { accept = 'accepted', accepted = 'accepted', decline = 'declined', declined = 'declined', pending = 'pending' }

function M.consent(answer)
  local function send(choice)
    if not choice then
      return
    end
    if host.channel then
      host.send('crowdcode_command', 'consent', CONSENT[choice])
    else
      vim.system({ M.options.cmd[1], 'config', 'set', 'consent.status', CONSENT[choice] }, { text = true }, function(r)
        host.notify(r.code == 0 and ('consent is now ' .. CONSENT[choice]) or r.stderr, vim.log.levels.INFO)
      end)
    end
  end
  if answer and answer ~= '' then
    if not CONSENT[answer] then
      host.notify('expected accept, decline or pending, got ' .. answer, vim.log.levels.ERROR)
      return
    end
    return send(answer)
  end
  vim.ui.select({ 'accept', 'decline', 'pending' }, {
    prompt = M.consent_text or 'crowdcode records your editing locally. May it upload the data?',
  }, send)
end

--- A statusline component: `%{%v:lua.require'crowdcode'.statusline()%}`.
function M.statusline()
  local text = M.options.statusline[M.state]
  if text == nil then
    return ''
  end
  return text
end

local function commands()
  local cmd = api.nvim_create_user_command
  cmd('CrowdcodeStatus', M.status, { desc = 'crowdcode: recording state and session' })
  cmd('CrowdcodePanic', M.panic, { desc = 'crowdcode: remove the recent past (press again to reach further)' })
  cmd('CrowdcodeStop', M.stop, { desc = 'crowdcode: stop recording' })
  cmd('CrowdcodeStart', M.start, { desc = 'crowdcode: start recording' })
  cmd('CrowdcodeConsent', function(a)
    M.consent(a.args)
  end, {
    nargs = '?',
    complete = function()
      return { 'accept', 'decline', 'pending' }
    end,
    desc = 'crowdcode: may recordings leave this machine?',
  })
end

local function on_leave()
  track.flush()
  host.leave() -- the recorder finishes the session after Neovim has gone
end

--- Configure and (unless enabled = false) start recording.
function M.setup(opts)
  M.options = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts or {})
  commands()
  api.nvim_create_autocmd('VimLeavePre', {
    group = api.nvim_create_augroup('crowdcode_exit', { clear = true }),
    callback = on_leave,
  })
  if M.options.enabled then
    M.start()
  end
end

return M
