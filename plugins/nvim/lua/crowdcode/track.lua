-- What the person does and sees besides text changes: cursor and visual selections, buffer and
-- window switches, the current window's viewport, :terminal buffers, focus, and the file
-- lifecycle autocommands that drive buffers.lua.
--
-- The viewport is forwarded, not sampled: a scroll, cursor, text or window event arms a one-shot
-- timer, and when it fires (sample_ms later) the current view goes to the recorder if it changed.
-- That delay only gathers a burst of events into one message (transport); the rate, the trailing
-- update and flood handling of observations are the recorder's core sampler's (observe.rate_hz,
-- docs/schema.md). Nothing runs while nothing happens, except while a :terminal window is current:
-- its output changes the screen without any event, so its view is re-read every sample_ms.
local buffers = require('crowdcode.buffers')
local guard = require('crowdcode.guard')
local queue = require('crowdcode.queue')

local api, fn = vim.api, vim.fn
local M = {}

local group = nil
local timer = nil ---@type uv.uv_timer_t? armed while a view is due to be forwarded
local broken = false -- forwarding views failed once: it stays off until the next start
local last_cursor = nil ---@type string? the last cursor/selection sent, as a key
local last_view = nil ---@type string?
local last_place = nil ---@type string? window and buffer last entered

M.sample_ms = 100

local VISUAL = { v = 'v', V = 'V', ['\22'] = '\22' }

-- The cursor, and in Visual mode the selection's other end ('v') and, blockwise, its text.
local function cursor_event(buf)
  local mode = api.nvim_get_mode().mode
  local visual = VISUAL[mode]
  local cur = api.nvim_win_get_cursor(0)
  local event = { 'cursor', buf, visual or mode:sub(1, 1), cur[1] - 1, cur[2], false, false, false }
  if visual then
    local v = fn.getpos('v')
    event[6], event[7] = v[2] - 1, v[3] - 1
    if visual == '\22' then
      local ok, region = pcall(fn.getregion, v, fn.getpos('.'), { type = '\22' })
      event[8] = ok and table.concat(region, '\n') or false
    end
  end
  return event
end

local function send_cursor()
  local buf = api.nvim_get_current_buf()
  if not buffers.tracked(buf) then
    return
  end
  local event = cursor_event(buf)
  local key = table.concat({ buf, event[3], event[4], event[5], tostring(event[6]), tostring(event[7]) }, ':')
  if key ~= last_cursor then
    last_cursor = key
    queue.push(event)
  end
end

local function terminal_view(buf)
  local w0, wl = fn.line('w0'), fn.line('w$')
  local lines = api.nvim_buf_get_lines(buf, w0 - 1, wl, false)
  local cur = api.nvim_win_get_cursor(0)
  local key = table.concat(lines, '\n') .. ':' .. cur[1] .. ':' .. cur[2]
  if key == last_view then
    return
  end
  last_view = key
  queue.push({
    'term_view',
    buf,
    api.nvim_buf_get_name(buf),
    lines,
    cur[1] - w0,
    cur[2],
    api.nvim_win_get_width(0),
    api.nvim_win_get_height(0),
  })
end

-- A window on a buffer whose text the recorder does not keep (help, a plugin's list, the
-- command-line window): its visible lines go along. Scratch buffers send nothing.
local function other_view(buf)
  local w0, wl = fn.line('w0'), fn.line('w$')
  local cur = api.nvim_win_get_cursor(0)
  local key = table.concat({ buf, w0, wl, cur[1], cur[2], api.nvim_buf_get_changedtick(buf) }, ':')
  if key == last_view then
    return
  end
  last_view = key
  local name = api.nvim_buf_get_name(buf)
  if name == '' then
    if vim.bo[buf].buftype == '' then -- a scratch buffer: no file, nothing to show (see buffers.lua)
      return
    end
    name = '[' .. vim.bo[buf].buftype .. ']'
  end
  queue.push({ 'view_text', buf, name, w0, wl, api.nvim_buf_get_lines(buf, w0 - 1, wl, false), cur[1] - w0, cur[2] })
end

--- The current window's viewport (and the cursor after typing in Insert mode), when changed.
function M.sample()
  local buf = api.nvim_get_current_buf()
  if vim.bo[buf].buftype == 'terminal' then
    M.soon() -- its output moves the screen without an event: look again
    return terminal_view(buf)
  end
  if not buffers.tracked(buf) then
    return other_view(buf)
  end
  send_cursor() -- the cursor moved by typing is sampled here, not on every key
  local w0, wl = fn.line('w0'), fn.line('w$')
  local cur = api.nvim_win_get_cursor(0)
  local key = table.concat({ buf, w0, wl, cur[1], cur[2], api.nvim_buf_get_changedtick(buf) }, ':')
  if key ~= last_view then
    last_view = key
    queue.push({ 'view', buf, w0, wl, cur[1] - 1, cur[2] })
  end
end

local function forward()
  if timer then
    timer:stop()
    timer:close()
    timer = nil
  end
  local ok, err = pcall(M.sample)
  if not ok then -- never an error on every scroll: report once and stop forwarding views
    broken = true
    vim.notify('crowdcode: viewport forwarding stopped: ' .. tostring(err), vim.log.levels.WARN)
  end
end

--- Forward the view sample_ms from now, unless already due (a burst of events is one message).
function M.soon()
  if timer or broken or not group then
    return
  end
  timer = vim.uv.new_timer()
  timer:start(M.sample_ms, 0, vim.schedule_wrap(function()
    if timer then
      forward()
    end
  end))
end

--- The view due to be forwarded goes now: before a stop or a quit, so the last one is recorded.
function M.flush()
  if timer then
    forward()
  end
end

local function on_enter()
  local buf, win = api.nvim_get_current_buf(), api.nvim_get_current_win()
  local name = api.nvim_buf_get_name(buf)
  local place = win .. ':' .. buf .. ':' .. name
  buffers.open(buf) -- buffers that were never read (:enew, :new) start tracking when entered
  if place == last_place then
    return
  end
  last_place = place
  buffers.on_enter(buf)
  local kind = vim.bo[buf].buftype == 'terminal' and 'terminal' or (buffers.tracked(buf) and 'file' or 'other')
  queue.push({ 'enter', buf, name, kind, win })
end

local function terminal_opened(buf)
  local name = api.nvim_buf_get_name(buf)
  local cwd, command = name:match('^term://(.-)//%d+:(.*)$')
  queue.push({ 'term_open', buf, name, command or '', cwd and fn.fnamemodify(fn.expand(cwd), ':p') or fn.getcwd() })
end

function M.start()
  group = api.nvim_create_augroup('crowdcode', { clear = true })
  local function au(events, callback, pattern)
    api.nvim_create_autocmd(events, { group = group, pattern = pattern, callback = guard.wrap(callback) })
  end
  au({ 'BufReadPost', 'BufNewFile' }, function(a)
    buffers.on_read_post(a.buf, a.event == 'BufNewFile')
    if a.buf == api.nvim_get_current_buf() then
      on_enter() -- a scratch buffer reused for the file: the same buffer and window, another file
    end
  end)
  au('BufReadPre', function(a)
    buffers.on_read_pre(a.buf)
  end)
  au('BufFilePost', function(a)
    buffers.on_rename(a.buf)
  end)
  au('BufWritePost', function(a)
    buffers.on_write(a.buf, a.match)
  end)
  au('OptionSet', function()
    buffers.on_option(api.nvim_get_current_buf())
  end, { 'eol', 'fixeol', 'binary' })
  au('OptionSet', function()
    buffers.on_format(api.nvim_get_current_buf())
  end, { 'fileformat', 'bomb' })
  au('BufUnload', function(a)
    buffers.on_unload(a.buf)
  end)
  au('TextChanged', buffers.resolve)
  au({ 'BufEnter', 'WinEnter' }, on_enter)
  au('CursorMoved', send_cursor)
  au('InsertEnter', function()
    buffers.on_insert(true)
  end)
  au('InsertLeave', function()
    buffers.on_insert(false)
  end)
  au('ModeChanged', send_cursor, '*:[vV\22]*')
  au('ModeChanged', send_cursor, '[vV\22]*:*')
  au('CompleteDone', function(a)
    if buffers.tracked(a.buf) then
      queue.push({ 'complete', a.buf })
    end
  end)
  au('TermOpen', function(a)
    terminal_opened(a.buf)
    if a.buf == api.nvim_get_current_buf() then -- entered before it became a terminal
      last_place = nil
      on_enter()
    end
  end)
  au('TermClose', function(a)
    queue.push({ 'term_close', a.buf, vim.v.event.status or false })
  end)
  au('FocusGained', function()
    queue.push({ 'focus', true })
  end)
  au('FocusLost', function()
    queue.push({ 'focus', false })
  end)
  for _, buf in ipairs(api.nvim_list_bufs()) do
    if vim.bo[buf].buftype == 'terminal' then
      terminal_opened(buf)
    end
  end
  au({
    'CursorMoved',
    'CursorMovedI',
    'WinScrolled',
    'WinResized',
    'VimResized',
    'TextChanged',
    'TextChangedI',
    'BufEnter',
    'WinEnter',
  }, M.soon)
  broken = false
  last_cursor, last_view, last_place = nil, nil, nil
  on_enter()
  M.soon()
end

function M.stop_sampling()
  if timer then
    timer:stop()
    timer:close()
    timer = nil
  end
end

function M.stop()
  if group then
    api.nvim_del_augroup_by_id(group)
    group = nil
  end
  M.stop_sampling()
end

return M
