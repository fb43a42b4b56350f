-- Drive gemma-review's language server from a real, headless Neovim through edits of a
-- buffer holding a form feed, a U+2028 line separator and emoji (characters that
-- str.splitlines() breaks at and LSP does not), then ask for a whole-file review, wait for
-- the diagnostic on the line holding "# MARK", apply its fix, and record what happened.
--
-- Inputs (environment): GEMMA_FILE, GEMMA_CMD (JSON list), GEMMA_INIT (JSON object),
-- GEMMA_OUT (where the JSON result goes), GEMMA_TIMEOUT (ms).
local out_path = os.getenv("GEMMA_OUT") or "gemma-nvim-result.json"
local timeout = tonumber(os.getenv("GEMMA_TIMEOUT") or "30000")

local v = vim.version()
local result = { nvim = string.format("%d.%d.%d", v.major, v.minor, v.patch) }

local function clients_of(buf)
  if vim.lsp.get_clients then
    return vim.lsp.get_clients({ bufnr = buf })
  end
  return vim.tbl_values(vim.lsp.buf_get_clients(buf))
end

-- 0-based byte column just after the first occurrence of `needle` in line `row` (0-based).
local function after(buf, row, needle)
  local line = vim.api.nvim_buf_get_lines(buf, row, row + 1, true)[1]
  local _, last = string.find(line, needle, 1, true)
  assert(last, "no " .. needle .. " on line " .. row)
  return last
end

local function run()
  local file = assert(os.getenv("GEMMA_FILE"), "GEMMA_FILE is not set")
  local cmd = vim.fn.json_decode((assert(os.getenv("GEMMA_CMD"), "GEMMA_CMD is not set")))
  local init_options = vim.fn.json_decode((assert(os.getenv("GEMMA_INIT"), "GEMMA_INIT is not set")))
  local root = vim.fn.fnamemodify(file, ":h")
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
  if not vim.wait(timeout, function()
    local found = clients_of(buf)
    return #found > 0 and found[1].initialized
  end, 20) then
    error("the server did not initialize within " .. timeout .. " ms")
  end

  -- Edits as a user makes them; Neovim sends each as an incremental didChange.
  vim.api.nvim_buf_set_lines(buf, 0, 0, true, { "# top \12 with a form feed" })
  local row = 2 -- the line with the form feed in the string
  local col = after(buf, row, "\12")
  vim.api.nvim_buf_set_text(buf, row, col, row, col + 4, { "FEED" })
  row = 3 -- the line with U+2028
  col = after(buf, row, "\226\128\168")
  vim.api.nvim_buf_set_text(buf, row, col, row, col, { "\226\128\169" }) -- U+2029 after it
  row = 4 -- the emoji line
  col = after(buf, row, "\240\159\145\139") -- after the waving hand
  vim.api.nvim_buf_set_text(buf, row, col, row, col, { "\240\159\153\130" }) -- a smiley
  vim.api.nvim_buf_set_lines(buf, 5, 5, true, { "    pad = '\12'", "    more = '\226\128\168x'" })
  vim.api.nvim_buf_set_text(buf, 6, 4, 6, 4, { "mo", "    " }) -- splits a line in two
  result.edited = vim.api.nvim_buf_get_lines(buf, 0, -1, false)

  local client = clients_of(buf)[1]
  local uri = vim.uri_from_bufnr(buf)
  local function request(method, params)
    local responses = vim.lsp.buf_request_sync(buf, method, params, timeout) or {}
    local response = responses[client.id]
    if not response or response.err or response.error then
      error(method .. " failed: " .. vim.inspect(response))
    end
    return response.result
  end
  request("workspace/executeCommand", { command = "gemma-review.reviewFile", arguments = { uri } })
  if not vim.wait(timeout, function() return #vim.diagnostic.get(buf) > 0 end, 20) then
    error("no diagnostic within " .. timeout .. " ms")
  end
  local d = vim.diagnostic.get(buf)[1]
  result.diagnostic = { lnum = d.lnum, col = d.col, end_lnum = d.end_lnum, end_col = d.end_col, message = d.message }

  local params = {
    textDocument = { uri = uri },
    range = { start = { line = d.lnum, character = 0 }, ["end"] = { line = d.lnum, character = 0 } },
    context = { diagnostics = {} },
  }
  local chosen
  for _, action in ipairs(request("textDocument/codeAction", params) or {}) do
    if not chosen and action.title:find("^Apply Gemma fix") then
      chosen = action
    end
  end
  if not chosen then
    error("no 'Apply Gemma fix' among the code actions")
  end
  vim.lsp.util.apply_workspace_edit(chosen.edit, client.offset_encoding)
  result.fixed = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
end

local ok, err = pcall(run)
if not ok then
  result.error = tostring(err)
end
local fh = assert(io.open(out_path, "w"))
fh:write(vim.fn.json_encode(result))
fh:close()
vim.cmd("qa!")
