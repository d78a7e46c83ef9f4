-- Buffer tracking: the full text when a buffer is opened, then every change. The text of a
-- change comes from on_lines, read when the callback runs: on_bytes reports :substitute before the
-- new line is written and undo only after every line was restored, so text read there is stale
-- (on_lines' text is what Neovim's own LSP client relies on). on_bytes still tells exactly where a
-- change starts: that position goes along as a hint, so that the host can place an edit inside a
-- run of equal characters where the user made it. The host keeps each buffer's text and converts
-- positions to the schema's UTF-16 units; this side only reads the changed lines.
--
-- Undo and redo: Neovim does not say why text changed. A new change opens a new undo step before
-- it touches the text, so changenr() has moved when its callbacks run; during an undo or redo it
-- has not moved yet. Such changes (outside Insert mode) are marked pending and classified once the
-- command finished (TextChanged, or the next flush): changenr() went down for an undo, up for a
-- redo, stayed for a change joined to the last step.
local guard = require('crowdcode.guard')
local queue = require('crowdcode.queue')

local api, fn = vim.api, vim.fn
local M = {}

---@class crowdcode.BufState
---@field name string
---@field attached boolean
---@field nr integer changenr() as last seen
---@field reading boolean a :edit / :checktime read is in progress
---@field empty boolean the buffer had no lines when last reported
---@field noeol boolean Neovim writes the buffer without a final line break (see no_eol)

---@type table<integer, crowdcode.BufState>
local states = {}
---@type {[1]: table, [2]: integer, [3]: integer, [4]: integer}[] event, reason slot, buffer, changenr()
local pending = {}
local enabled = false
local pasting = false
local inserting = false -- in Insert or Replace mode (InsertEnter/InsertLeave)
local completion_key = false -- the key being handled is <C-n>, <C-p> or a <C-x> completion
local after_ctrl_x = false
local key_ns = api.nvim_create_namespace('crowdcode_keys')
local CTRL_N, CTRL_P, CTRL_X = '\14', '\16', '\24'

M.max_bytes = 16 * 1024 * 1024

-- The buffer's text with every line ending in a newline (the model of on_lines and on_bytes).
local function whole_text(buf)
  return table.concat(api.nvim_buf_get_lines(buf, 0, -1, false), '\n') .. '\n'
end

-- Whether the buffer has no lines at all: read from an empty file, or emptied by deleting every
-- line. Neovim shows it as one empty line but writes nothing, where one empty line that was typed
-- (`o`, then `dd` of the other line) is written as a line break; only the byte count tells them
-- apart. Cheap: counted only for a buffer holding one empty line.
local function is_empty(buf)
  if api.nvim_buf_line_count(buf) ~= 1 or api.nvim_buf_get_lines(buf, 0, 1, false)[1] ~= '' then
    return false
  end
  local counts = buf == api.nvim_get_current_buf() and fn.wordcount() or api.nvim_buf_call(buf, fn.wordcount)
  return counts.bytes == 0
end

-- Whether Neovim writes a byte order mark before the text (it reads one into 'bomb', not the text).
local function has_bom(buf)
  local fenc = vim.bo[buf].fileencoding
  return vim.bo[buf].bomb and (fenc == '' or fenc == 'utf-8')
end

-- Whether Neovim writes the buffer without a final line break: a file read without one keeps
-- 'noeol', and only 'nofixeol' (or 'binary') lets the write leave it out.
local function no_eol(buf)
  local bo = vim.bo[buf]
  return not bo.eol and (not bo.fixeol or bo.binary)
end

-- Sends a change of the buffer's emptiness or final line break that its on_lines could not see:
-- undo and redo mark a buffer as having no lines only after their on_lines callbacks ran, and
-- :set eol, fixeol or binary change what a write adds. The event changes no line.
local function sync_shape(st, buf, reason)
  local empty, noeol = is_empty(buf), no_eol(buf)
  if empty ~= st.empty or noeol ~= st.noeol then
    st.empty, st.noeol = empty, noeol
    queue.push({ 'lines', buf, 0, 0, '', reason, false, false, empty, noeol })
  end
end

-- Sets event[slot] to the reason of a change to `buf` (see the header comment). Typing in Insert
-- mode is never an undo: it costs one complete_info() here, and InsertLeave catches up with
-- changenr().
local function classify(st, buf, event, slot)
  if pasting then
    event[slot] = 'paste'
    return
  end
  if inserting then
    -- Insert-mode completion replaces the text once per candidate shown: the recorder joins these
    -- changes into one `completion` edit when the completion is done (CompleteDone). <C-n> deletes
    -- the typed prefix before complete_info() says it completes: the key says so then.
    if completion_key or fn.complete_info({ 'mode' }).mode ~= '' then
      event[slot] = 'completion'
    end
    return
  end
  if buf ~= api.nvim_get_current_buf() then
    return
  end
  local nr = fn.changenr()
  if nr ~= st.nr then
    st.nr = nr
    return
  end
  event[slot] = '?'
  pending[#pending + 1] = { event, slot, buf, nr }
end

--- Classify pending changes; called when a command finished and before each flush.
function M.resolve()
  if #pending == 0 then
    return
  end
  local now, reasons = {}, {}
  for _, p in ipairs(pending) do
    local event, slot, buf, nr = p[1], p[2], p[3], p[4]
    local cur = now[buf]
    if cur == nil and api.nvim_buf_is_loaded(buf) then
      cur = buf == api.nvim_get_current_buf() and fn.changenr() or api.nvim_buf_call(buf, fn.changenr)
      now[buf] = cur
    end
    if cur == nil or cur == nr then
      event[slot] = false
    else
      event[slot] = cur < nr and 'undo' or 'redo'
    end
    if states[buf] and cur then
      states[buf].nr = cur
    end
    reasons[buf] = event[slot]
  end
  pending = {}
  for buf, reason in pairs(reasons) do
    if states[buf] and api.nvim_buf_is_loaded(buf) then
      sync_shape(states[buf], buf, reason)
    end
  end
end

-- The hint is the first on_bytes position of the change that just happened (its changedtick is
-- one less than on_lines'); undo reports on_bytes after on_lines, so older hints are dropped.
local function on_lines(st, buf, tick, first, last, new_last)
  local text = ''
  if new_last > first then
    text = table.concat(api.nvim_buf_get_lines(buf, first, new_last, false), '\n') .. '\n'
  end
  st.empty = new_last <= 1 and is_empty(buf)
  st.noeol = no_eol(buf)
  local event = { 'lines', buf, first, last, text, false, false, false, st.empty, st.noeol }
  if st.hint_tick == tick - 1 then
    event[7], event[8] = st.hint_row, st.hint_col
  end
  st.hint_tick = nil
  classify(st, buf, event, 6)
  queue.push(event)
end

-- The buffer's whole text as a 'reload' message with `reason` (false until classified), with the
-- fields the host needs to know how Neovim writes it (its FileForm and line break).
local function reload_event(st, buf, reason)
  st.empty, st.noeol = is_empty(buf), no_eol(buf)
  return { 'reload', buf, whole_text(buf), reason, st.empty, has_bom(buf), vim.bo[buf].fileformat, st.noeol }
end

local function on_reload(st, buf)
  local event = reload_event(st, buf, false)
  if st.reading then
    event[4] = 'disk'
  else
    classify(st, buf, event, 4)
  end
  queue.push(event)
end

-- The callbacks are bound to one tracking state: after :CrowdcodeStop or a close, the old
-- attachment detaches on its next call instead of reporting twice.
local function attach(buf, st)
  st.attached = api.nvim_buf_attach(buf, false, {
    on_lines = guard.wrap(function(_, _, tick, first, last, new_last)
      if states[buf] ~= st then
        return true
      end
      on_lines(st, buf, tick, first, last, new_last)
    end),
    on_bytes = guard.wrap(function(_, _, tick, row, col)
      if states[buf] ~= st then
        return true
      end
      if st.hint_tick ~= tick then
        st.hint_row, st.hint_col, st.hint_tick = row, col, tick
      end
    end),
    on_reload = guard.wrap(function()
      if states[buf] ~= st then
        return true
      end
      on_reload(st, buf)
    end),
    on_detach = function()
      st.attached = false
    end,
  })
end

-- Whether a buffer name is a file: not empty (a scratch buffer: `nvim` without a file, :enew) and
-- not a URL-like name (term://, fugitive://, oil://).
function M.is_file_name(name)
  return name ~= '' and not name:find('^%a[%w+.-]*://')
end

-- Only files are tracked. Scratch buffers have no file to show or rebuild (recording them put an
-- `untitled:N` path in every session started without a file); one that is written (:w name) gets
-- a name and is tracked from then on, with its text at that moment. A :terminal buffer is entered
-- before its 'buftype' is set, but never has a file name.
local function trackable(buf)
  if not api.nvim_buf_is_loaded(buf) or vim.bo[buf].buftype ~= '' then
    return false
  end
  if not M.is_file_name(api.nvim_buf_get_name(buf)) then
    return false
  end
  if fn.getcmdwintype() ~= '' then -- the command-line window (q:), before it sets 'buftype'
    return false
  end
  local size = api.nvim_buf_get_offset(buf, api.nvim_buf_line_count(buf))
  return size <= M.max_bytes
end

local function changenr_of(buf)
  return buf == api.nvim_get_current_buf() and fn.changenr() or api.nvim_buf_call(buf, fn.changenr)
end

--- Start tracking `buf` (a loaded file): send its text, attach. `absent`: the file was not on
--- disk when the buffer took it (a new file, or a scratch buffer that `:w name` named as it wrote
--- it); what the disk holds by the time the recorder reads it was written since.
function M.open(buf, absent)
  local old = states[buf]
  if old and not old.attached and api.nvim_buf_is_loaded(buf) then
    M.close(buf) -- unloaded and loaded again without a read (:enew reusing an empty buffer)
  end
  if not enabled or states[buf] or not trackable(buf) then
    return
  end
  local st = { name = api.nvim_buf_get_name(buf), attached = false, nr = changenr_of(buf), reading = false }
  st.empty, st.noeol = is_empty(buf), no_eol(buf)
  states[buf] = st
  local text = whole_text(buf)
  queue.push({ 'open', buf, st.name, vim.bo[buf].fileformat, text, st.empty, has_bom(buf), st.noeol, absent == true })
  attach(buf, st)
end

function M.tracked(buf)
  return states[buf] ~= nil
end

function M.on_read_pre(buf)
  local st = states[buf]
  if st then
    st.reading = true
  end
end

-- After a read into a buffer: the first read opens it; a read into a tracked buffer with the same
-- name is a reload from disk (:edit!, or :checktime with 'autoread', whose on_reload comes later);
-- a tracked buffer that now holds another file (Neovim reuses an empty scratch buffer) is a close
-- and an open. `new`: the file is not on disk (BufNewFile).
function M.on_read_post(buf, new)
  local st = states[buf]
  if not st then
    return M.open(buf, new)
  end
  local name = api.nvim_buf_get_name(buf)
  if name ~= st.name then
    M.close(buf)
    return M.open(buf, new)
  end
  st.nr = changenr_of(buf)
  if not st.attached then -- :edit! unloaded the buffer, which detached us
    queue.push(reload_event(st, buf, 'disk'))
    attach(buf, st)
  end
  vim.schedule(function()
    st.reading = false
  end)
end

function M.on_rename(buf)
  local st = states[buf]
  if not st then
    return M.open(buf)
  end
  local name = api.nvim_buf_get_name(buf)
  if not M.is_file_name(name) then
    return M.close(buf)
  end
  if name ~= st.name then
    st.name = name
    queue.push({ 'rename', buf, name })
  end
end

-- `file` is the file written: `:w other` writes the buffer's text to another file and leaves the
-- buffer as it was (its own file, still modified), so the save names that file.
function M.on_write(buf, file)
  if not states[buf] then
    M.open(buf, true) -- a scratch buffer that this write named (`:w name` renames it without BufFilePost)
  end
  local st = states[buf]
  if st then
    M.on_rename(buf)
    sync_shape(st, buf, false)
    local written = fn.fnamemodify(file, ':p')
    queue.push(written == st.name and { 'save', buf } or { 'save', buf, written })
  end
end

--- 'eol', 'fixeol' or 'binary' was set: what a write of the buffer ends with may have changed.
function M.on_option(buf)
  local st = states[buf]
  if st then
    sync_shape(st, buf, false)
  end
end

--- 'fileformat' or 'bomb' was set: every line break, or the byte order mark, of the file Neovim
--- writes changes; the whole text goes along with them (Neovim sets neither by OptionSet when it
--- reads a file).
function M.on_format(buf)
  local st = states[buf]
  if st then
    queue.push(reload_event(st, buf, false))
  end
end

--- Entering a buffer or leaving Insert mode: catch up with the buffer's undo state.
function M.on_enter(buf)
  local st = states[buf]
  if st then
    st.nr = fn.changenr()
  end
end

function M.on_insert(entering)
  inserting = entering
  completion_key, after_ctrl_x = false, false
  if not entering then
    M.on_enter(api.nvim_get_current_buf())
  end
end

-- BufUnload also runs for :edit!, which reloads the buffer right after; the close is decided once
-- the command finished.
function M.on_unload(buf)
  if not states[buf] then
    return
  end
  vim.schedule(function()
    if states[buf] and not api.nvim_buf_is_loaded(buf) then
      M.close(buf)
    end
  end)
end

--- The recorder lost track of `buf` (its text no longer fits a change): send it again.
function M.resync(buf)
  states[buf] = nil
  M.open(buf)
end

function M.close(buf)
  if states[buf] then
    states[buf] = nil
    queue.push({ 'close', buf })
  end
end

--- Wrap vim.paste so that pasted text is marked as a paste.
local function wrap_paste()
  local original = vim.paste
  vim.paste = function(lines, phase)
    pasting = true
    local ok, result = pcall(original, lines, phase)
    pasting = false
    if not ok then
      error(result, 0)
    end
    return result
  end
end

-- Called for every key before Neovim handles it (after mappings: a <Tab> mapped to <C-n> counts).
local function on_key(key)
  if not inserting then
    return
  end
  completion_key = key == CTRL_N or key == CTRL_P or after_ctrl_x
  after_ctrl_x = key == CTRL_X
end

function M.enable()
  if enabled then
    return
  end
  enabled = true
  vim.on_key(on_key, key_ns)
  for _, buf in ipairs(api.nvim_list_bufs()) do
    M.open(buf)
  end
end

--- Stop tracking every buffer (the on_bytes callbacks detach on their next call).
function M.disable()
  enabled = false
  vim.on_key(nil, key_ns)
  states = {}
  pending = {}
end

wrap_paste()

return M
