-- Drive gemma-review's language server from a real, headless Neovim, the way a user's
-- config would: start the server for a Python file, wait for the duplicate-date
-- diagnostic, apply its "Apply Gemma fix" code action, and record what happened.
--
-- Neovim 0.11+ uses vim.lsp.config / vim.lsp.enable; older versions vim.lsp.start_client.
-- Inputs (environment): GEMMA_FILE, GEMMA_CMD (JSON list), GEMMA_INIT (JSON object),
-- GEMMA_OUT (where the JSON result goes), GEMMA_TIMEOUT (ms).
local out_path = os.getenv("GEMMA_OUT") or "gemma-nvim-result.json"
local timeout = tonumber(os.getenv("GEMMA_TIMEOUT") or "30000")

local v = vim.version()
local result = { nvim = string.format("%d.%d.%d", v.major, v.minor, v.patch) }

local function run()
  local file = assert(os.getenv("GEMMA_FILE"), "GEMMA_FILE is not set")
  local cmd = vim.fn.json_decode((assert(os.getenv("GEMMA_CMD"), "GEMMA_CMD is not set")))
  local init_options = vim.fn.json_decode((assert(os.getenv("GEMMA_INIT"), "GEMMA_INIT is not set")))
  local root = vim.fn.fnamemodify(file, ":h")
  if vim.lsp.config then
    result.api = "vim.lsp.config"
    vim.lsp.config("gemma_review", {
      cmd = cmd,
      filetypes = { "python" },
      root_dir = root,
      init_options = init_options,
    })
    vim.lsp.enable("gemma_review")
    vim.cmd("edit " .. vim.fn.fnameescape(file))
  else
    result.api = "vim.lsp.start_client"
    vim.cmd("edit " .. vim.fn.fnameescape(file))
    local id = vim.lsp.start_client({ name = "gemma_review", cmd = cmd, root_dir = root, init_options = init_options })
    vim.lsp.buf_attach_client(0, id)
  end
  local buf = vim.api.nvim_get_current_buf()

  if not vim.wait(timeout, function() return #vim.diagnostic.get(buf) > 0 end, 20) then
    error("no diagnostic within " .. timeout .. " ms")
  end
  local d = vim.diagnostic.get(buf)[1]
  result.diagnostic = {
    lnum = d.lnum, col = d.col, end_lnum = d.end_lnum, end_col = d.end_col,
    message = d.message, source = d.source, code = d.code,
  }

  -- The context carries the LSP diagnostics under the cursor, as vim.lsp.buf.code_action sends them.
  local context_diagnostics
  if vim.fn.has("nvim-0.10") == 1 then
    context_diagnostics = { d.user_data.lsp }
  else
    context_diagnostics = vim.lsp.diagnostic.get_line_diagnostics(buf, d.lnum)
  end
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    range = { start = { line = d.lnum, character = d.col }, ["end"] = { line = d.lnum, character = d.col } },
    context = { diagnostics = context_diagnostics },
  }
  local responses = vim.lsp.buf_request_sync(buf, "textDocument/codeAction", params, timeout) or {}
  local chosen, client
  result.titles = {}
  for id, response in pairs(responses) do
    local failure = response.err or response.error
    if failure then
      error("textDocument/codeAction failed: " .. vim.inspect(failure))
    end
    for _, action in ipairs(response.result or {}) do
      table.insert(result.titles, action.title)
      if not chosen and action.title:find("^Apply Gemma fix") then
        chosen, client = action, vim.lsp.get_client_by_id(id)
      end
    end
  end
  if not chosen then
    error("no 'Apply Gemma fix' among the code actions")
  end
  vim.lsp.util.apply_workspace_edit(chosen.edit, client.offset_encoding)
  result.lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  -- The server sees the edit (didChange) and drops the diagnostic it fixed.
  result.cleared = vim.wait(timeout, function() return #vim.diagnostic.get(buf) == 0 end, 20)
end

local ok, err = pcall(run)
if not ok then
  result.error = tostring(err)
end
local fh = assert(io.open(out_path, "w"))
fh:write(vim.fn.json_encode(result))
fh:close()
vim.cmd("qa!")
