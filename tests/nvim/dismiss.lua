-- "Dismiss for the team…" from a real, headless Neovim, the way a user does it:
-- start gemma-review's language server for streak.py, wait for the duplicate-date
-- diagnostic, put the cursor on it, run vim.lsp.buf.code_action(), pick
-- "Dismiss for the team…" from the menu, then answer the prompt the server raises with
-- window/showMessageRequest, and wait until the diagnostic leaves the buffer.
--
-- The menu and the prompt go through Neovim's own code: vim.lsp.buf.code_action and the
-- default window/showMessageRequest handler. Only the UI primitives a user (or a plugin such
-- as telescope-ui-select) would drive are answered here: vim.ui.select (the code action menu;
-- in 0.11 also the prompt when the handler runs in a coroutine) and vim.fn.inputlist (the
-- prompt of the default handler otherwise). Each records what it showed.
--
-- GEMMA_MODE=reopen instead only opens the file and records every publishDiagnostics until
-- the review is over: the file GEMMA_ANSWERED exists (the test writes it once the fake model
-- answered the review) and the server logged "reviewed streak.py".
--
-- Inputs (environment): GEMMA_FILE, GEMMA_CMD (JSON list), GEMMA_INIT (JSON object),
-- GEMMA_OUT (where the JSON result goes), GEMMA_TIMEOUT (ms), GEMMA_MODE (dismiss|reopen),
-- GEMMA_CHOICE (the prompt's answer, default "False positive"), GEMMA_ANSWERED (reopen only).
local out_path = os.getenv("GEMMA_OUT") or "gemma-nvim-result.json"
local timeout = tonumber(os.getenv("GEMMA_TIMEOUT") or "30000")
local mode = os.getenv("GEMMA_MODE") or "dismiss"
local answer = os.getenv("GEMMA_CHOICE") or "False positive"
-- GEMMA_MODE=action picks GEMMA_ACTION (a title or its prefix) from the menu instead, e.g.
-- "Apply Gemma fix:", and waits for the server to log the verdict the action's command counted.
local DISMISS = mode == "action" and os.getenv("GEMMA_ACTION") or "Dismiss for the team…"

local v = vim.version()
local result = { nvim = string.format("%d.%d.%d", v.major, v.minor, v.patch), mode = mode }
result.logs = {}
result.published = {} -- the number of diagnostics in each publishDiagnostics for the file

local function wrap_handler(method, before)
  local default = vim.lsp.handlers[method]
  vim.lsp.handlers[method] = function(err, params, ctx, config)
    before(params)
    if default then
      return default(err, params, ctx, config)
    end
  end
end

local function run()
  local file = assert(os.getenv("GEMMA_FILE"), "GEMMA_FILE is not set")
  local cmd = vim.fn.json_decode((assert(os.getenv("GEMMA_CMD"), "GEMMA_CMD is not set")))
  local init_options = vim.fn.json_decode((assert(os.getenv("GEMMA_INIT"), "GEMMA_INIT is not set")))
  local root = vim.fn.fnamemodify(file, ":h")
  local file_uri = vim.uri_from_fname(file)

  wrap_handler("window/logMessage", function(params)
    table.insert(result.logs, params.message)
  end)
  wrap_handler("textDocument/publishDiagnostics", function(params)
    if params.uri == file_uri then
      table.insert(result.published, #params.diagnostics)
    end
  end)

  if vim.lsp.config then
    result.api = "vim.lsp.config"
    vim.lsp.config("gemma_review", { cmd = cmd, filetypes = { "python" }, root_dir = root, init_options = init_options })
    vim.lsp.enable("gemma_review")
    vim.cmd("edit " .. vim.fn.fnameescape(file))
  else
    result.api = "vim.lsp.start_client"
    vim.cmd("edit " .. vim.fn.fnameescape(file))
    local id = vim.lsp.start_client({ name = "gemma_review", cmd = cmd, root_dir = root, init_options = init_options })
    vim.lsp.buf_attach_client(0, id)
  end
  local buf = vim.api.nvim_get_current_buf()

  local function logged(pattern)
    for _, message in ipairs(result.logs) do
      if message:find(pattern) then
        return message
      end
    end
  end

  if mode == "reopen" then
    local flag = assert(os.getenv("GEMMA_ANSWERED"), "GEMMA_ANSWERED is not set")
    result.answered = vim.wait(timeout, function() return vim.loop.fs_stat(flag) ~= nil end, 20)
    if not result.answered then
      error("the fake model did not answer the review within " .. timeout .. " ms")
    end
    -- The server publishes what it shows, then logs "reviewed streak.py: ...".
    if not vim.wait(timeout, function() return logged("^reviewed streak%.py") ~= nil end, 20) then
      error("the server did not log 'reviewed streak.py' within " .. timeout .. " ms")
    end
    result.reviewed = logged("^reviewed streak%.py")
    vim.wait(300, function() return false end, 20) -- anything still queued behind the log
    result.diagnostics = #vim.diagnostic.get(buf)
    return
  end

  if not vim.wait(timeout, function() return #vim.diagnostic.get(buf) > 0 end, 20) then
    error("no diagnostic within " .. timeout .. " ms")
  end
  local d = vim.diagnostic.get(buf)[1]
  result.diagnostic = {
    lnum = d.lnum, col = d.col, end_lnum = d.end_lnum, message = d.message, source = d.source,
  }

  -- The user: the code action menu, then the server's question.
  result.menu = {}
  result.prompts = {}
  vim.ui.select = function(items, opts, on_choice)
    opts = opts or {}
    local format = opts.format_item or tostring
    local labels = {}
    for i, item in ipairs(items) do
      labels[i] = format(item)
    end
    local wanted = opts.kind == "codeaction" and DISMISS or answer
    if opts.kind == "codeaction" then
      result.menu = labels
    else
      table.insert(result.prompts, { via = "vim.ui.select", prompt = opts.prompt, items = labels })
    end
    for i, label in ipairs(labels) do
      if label == wanted or label:sub(1, #wanted + 1) == wanted .. " " then
        return on_choice(items[i], i)
      end
    end
    return on_choice(nil, nil)
  end
  vim.fn.inputlist = function(lines)
    table.insert(result.prompts, { via = "inputlist", items = lines })
    for _, line in ipairs(lines) do
      local n, title = line:match("^(%d+)%. (.*)$")
      if n and title == answer then
        return tonumber(n)
      end
    end
    return 0
  end

  vim.api.nvim_win_set_cursor(0, { d.lnum + 1, d.col })
  vim.lsp.buf.code_action()
  result.cleared = vim.wait(timeout, function() return #vim.diagnostic.get(buf) == 0 end, 20)
  if mode == "action" then
    -- Neovim applied the action's edit, then ran its command: the server logs what it counted.
    vim.wait(timeout, function() return logged("^counted ") ~= nil end, 20)
    result.recorded = logged("^counted ")
    return
  end
  -- The server logs the record it wrote: "dismissed streak.py: <title> (<reason>) in <store>".
  vim.wait(timeout, function() return logged("^dismissed ") ~= nil end, 20)
  result.recorded = logged("^dismissed ")
end

local ok, err = pcall(run)
if not ok then
  result.error = tostring(err)
end
local fh = assert(io.open(out_path, "w"))
fh:write(vim.fn.json_encode(result))
fh:close()
vim.cmd("qa!")
