#!/usr/bin/env node
// The VS Code end-to-end test: a real VS Code (code-server) in headless Chromium, with the
// packaged extension, the real language server and a fake Ollama, checked as a user sees it.
//
//   vscode-extension/test/e2e/setup.sh          # once: code-server, Chromium, the .vsix
//   node vscode-extension/test/e2e/run.mjs      # the scenarios below
//
// Environment (all optional):
//   GEMMA_REVIEW_PYTHON          a Python with gemma-review installed (default: python3)
//   GEMMA_REVIEW_E2E_CACHE       where setup.sh installed code-server (default: ~/.cache/gemma-review-e2e)
//   GEMMA_REVIEW_E2E_VSIX        the .vsix to test (default: test/e2e/.build/gemma-review.vsix)
//   GEMMA_REVIEW_E2E_ARTIFACTS   screenshots and logs (default: test/e2e/artifacts)
//   GEMMA_REVIEW_E2E_KEEP=1      keep the scratch folder (workspace, VS Code logs) for debugging
//   GEMMA_REVIEW_E2E_SCENARIOS   only these scenarios, comma-separated: model-up, model-down, dismiss (default: all)
//
// Each step that does not happen stops the run with
//   step N (<name>) did not happen: <what was seen instead>
// a screenshot of the moment (failure-step-N.png) and exit code 1.

import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..', '..');
const SAMPLE = path.join(REPO, 'samples', 'streak.py');
const MODEL = 'gemma4:e4b';
const FINDING_TITLE = 'Deduplicate dates before counting the streak';
const FINDING_LINE = 13; // 1-based, as the Problems panel shows it
const FIXED_LOOP = 'for current in sorted({event["date"] for event in events}):';
const REFACTORED_MARK = 'days = sorted({event["date"] for event in events})';
const OUTPUT_CHANNEL = 'Gemma Review';
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
// Generous: a loaded 2-core CI machine; a step that happens takes a second or two.
const WAIT_MS = 60_000;

const env = process.env;
const cacheDir = env.GEMMA_REVIEW_E2E_CACHE || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'gemma-review-e2e');
const vsix = env.GEMMA_REVIEW_E2E_VSIX || path.join(HERE, '.build', 'gemma-review.vsix');
const artifacts = env.GEMMA_REVIEW_E2E_ARTIFACTS || path.join(HERE, 'artifacts');
const python = env.GEMMA_REVIEW_PYTHON || 'python3';
const keepScratch = env.GEMMA_REVIEW_E2E_KEEP === '1';
const codeServerBin = path.join(cacheDir, 'node_modules', '.bin', 'code-server');

// ---------------------------------------------------------------------------- steps

class StepFailed extends Error {}

let stepNumber = 0;
let currentPage; // screenshot target when a step fails
const started = Date.now();

function log(message) {
  const seconds = ((Date.now() - started) / 1000).toFixed(1).padStart(5);
  process.stdout.write(`[${seconds}s] ${message}\n`);
}

/** Run one user-visible step; anything thrown becomes "step N (name) did not happen". */
async function step(name, action) {
  const n = ++stepNumber;
  log(`step ${n}: ${name}`);
  try {
    const result = await action();
    log(`step ${n}: ok`);
    return result;
  } catch (error) {
    if (currentPage) {
      await currentPage.screenshot({ path: path.join(artifacts, `failure-step-${n}.png`) }).catch(() => {});
    }
    // Playwright appends a long call log to its messages; the first line says what failed.
    const reason = (error instanceof Error ? error.message : String(error)).split('\nCall log:')[0].trim();
    throw new StepFailed(`step ${n} (${name}) did not happen: ${reason}`);
  }
}

/** Poll ``probe`` until it returns something truthy; on timeout say what was last seen. */
async function waitFor(what, probe, { timeout = WAIT_MS, interval = 250, seen = () => '' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await probe();
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      const last = await seen();
      throw new Error(`${what} within ${Math.round(timeout / 1000)}s${last ? `; seen instead: ${last}` : ''}`);
    }
    await sleep(interval);
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function shot(page, name) {
  const file = path.join(artifacts, name);
  await page.screenshot({ path: file });
  log(`  screenshot ${path.relative(REPO, file)}`);
}

// ---------------------------------------------------------------------------- processes

const children = new Set();

/** Start a long-running program in its own process group, its output going to a log file. */
function startProcess(command, args, options, logName) {
  const logFile = path.join(artifacts, logName);
  const out = fs.openSync(logFile, 'a');
  const child = spawn(command, args, { ...options, detached: true, stdio: ['ignore', 'pipe', out] });
  child.logFile = logFile;
  child.output = '';
  child.stdout.on('data', (data) => {
    child.output += data.toString();
    fs.appendFileSync(logFile, data);
  });
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.on('error', (error) => {
    child.spawnError = error;
  });
  children.add(child);
  child.exited.then(() => {
    children.delete(child);
    fs.closeSync(out);
  });
  return child;
}

/** Stop a program and everything it started (code-server's extension host, the language server). */
async function stopProcess(child) {
  if (!child?.pid) {
    return;
  }
  const group = (signal) => {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // the whole group is gone already
    }
  };
  if (child.exitCode === null && child.signalCode === null) {
    group('SIGTERM');
    const ended = await Promise.race([child.exited.then(() => true), sleep(5000).then(() => false)]);
    if (!ended) {
      group('SIGKILL');
      await child.exited;
    }
  }
  group('SIGKILL'); // grandchildren that outlived their parent
}

function stopAllNow() {
  for (const child of children) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.error) {
    return { ok: false, output: `${command}: ${result.error.message}` };
  }
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}`.trim() };
}

// ---------------------------------------------------------------------------- the fake model

/** The fake Ollama on ``port`` (0: any free port); resolves to its URL. */
async function startFakeModel(port = 0) {
  const child = startProcess(
    python,
    [path.join(HERE, 'fake_model.py'), '--port', String(port)],
    { cwd: REPO, env: { ...env, PYTHONDONTWRITEBYTECODE: '1' } },
    'fake-model.log',
  );
  const url = await waitFor(
    'the fake model server to print "listening on"',
    () => {
      if (child.spawnError) {
        throw new Error(`${python} did not start: ${child.spawnError.message}`);
      }
      if (child.exitCode !== null) {
        throw new Error(`the fake model server exited with ${child.exitCode}; see ${child.logFile}`);
      }
      return /listening on (http:\/\/\S+)/.exec(child.output)?.[1];
    },
    { timeout: 20_000, interval: 100 },
  );
  return { child, url };
}

// ---------------------------------------------------------------------------- code-server

/** A fresh scratch VS Code: user settings, extensions folder with the .vsix, a workspace. */
function prepareScenario(scratch, name, modelUrl, extraSettings = {}) {
  const root = path.join(scratch, name);
  const dirs = {
    root,
    userData: path.join(root, 'user-data'),
    extensions: path.join(root, 'extensions'),
    workspace: path.join(root, 'workspace'),
    xdg: path.join(root, 'xdg'),
    tmp: path.join(root, 'tmp'),
    reviewCache: path.join(root, 'review-cache'),
  };
  for (const dir of Object.values(dirs)) {
    fs.mkdirSync(dir, { recursive: true });
  }
  fs.copyFileSync(SAMPLE, path.join(dirs.workspace, 'streak.py'));
  fs.mkdirSync(path.join(dirs.userData, 'User'), { recursive: true });
  const settings = {
    // Without this a walkthrough opens after load and steals focus from Quick Open.
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'extensions.ignoreRecommendations': true,
    'security.workspace.trust.enabled': false,
    'chat.commandCenter.enabled': false,
    'files.autoSave': 'off',
    'editor.minimap.enabled': false,
    // The extension, pointed at the fake model and at a Python with gemma-review installed.
    'gemma-review.interpreter': python,
    'gemma-review.backend': 'ollama',
    'gemma-review.host': modelUrl,
    'gemma-review.model': MODEL,
    'gemma-review.cacheDir': dirs.reviewCache,
    ...extraSettings,
  };
  fs.writeFileSync(path.join(dirs.userData, 'User', 'settings.json'), `${JSON.stringify(settings, null, 2)}\n`);
  return dirs;
}

function codeServerEnv(dirs) {
  const clean = { ...env };
  // The reviewer reads these; the test's settings must be the only source of truth.
  for (const key of Object.keys(clean)) {
    if (key.startsWith('GEMMA_REVIEW_') || key === 'OLLAMA_HOST' || key === 'VSCODE_IPC_HOOK_CLI') {
      delete clean[key];
    }
  }
  return {
    ...clean,
    HOME: path.join(dirs.xdg, 'home'),
    XDG_CONFIG_HOME: path.join(dirs.xdg, 'config'),
    XDG_DATA_HOME: path.join(dirs.xdg, 'data'),
    XDG_CACHE_HOME: path.join(dirs.xdg, 'cache'),
    TMPDIR: dirs.tmp,
  };
}

function installExtension(dirs) {
  const result = run(
    codeServerBin,
    ['--install-extension', vsix, '--extensions-dir', dirs.extensions, '--user-data-dir', dirs.userData],
    { env: codeServerEnv(dirs), timeout: 60_000 },
  );
  const installed = fs.readdirSync(dirs.extensions).some((name) => name.startsWith('gemma-review.gemma-review-'));
  if (!result.ok || !installed) {
    throw new Error(`code-server --install-extension ${vsix} failed: ${result.output.split('\n').slice(-5).join(' | ')}`);
  }
}

async function startCodeServer(dirs, logName) {
  const port = await freePort();
  const child = startProcess(
    codeServerBin,
    [
      '--auth', 'none',
      '--bind-addr', `127.0.0.1:${port}`,
      '--user-data-dir', dirs.userData,
      '--extensions-dir', dirs.extensions,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      dirs.workspace,
    ],
    { cwd: dirs.root, env: codeServerEnv(dirs) },
    logName,
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    `code-server to answer ${url}/healthz`,
    async () => {
      if (child.exitCode !== null) {
        throw new Error(`code-server exited with ${child.exitCode}; see ${child.logFile}`);
      }
      try {
        return (await fetch(`${url}/healthz`)).ok;
      } catch {
        return false;
      }
    },
    { timeout: 30_000, interval: 200 },
  );
  return { child, url };
}

// ---------------------------------------------------------------------------- the workbench

async function openWorkbench(browser, url) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  currentPage = page;
  await page.goto(url);
  await page.locator('.monaco-workbench .part.statusbar').waitFor({ timeout: WAIT_MS });
  return page;
}

async function runCommand(page, title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill(`>${title}`);
  const entry = page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first();
  await entry.waitFor({ timeout: 10_000 });
  await entry.click();
}

async function openFile(page, name) {
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill(name);
  // The first search waits for the remote extension host, which is slow to start on a busy machine.
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: name }).first().waitFor({ timeout: WAIT_MS });
  await page.keyboard.press('Enter');
  await page.locator(`.tabs-container .tab[aria-label*="${name}"]`).waitFor({ timeout: 10_000 });
  await page.locator('.editor-instance .monaco-editor .view-lines').first().waitFor({ timeout: 10_000 });
}

/** Click into the editor text, so the keyboard goes to the editor. */
async function focusEditor(page) {
  await page.locator('.editor-instance .monaco-editor .view-lines').first().click();
}

async function goToLine(page, line) {
  await focusEditor(page);
  await page.keyboard.press('Control+G');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill(`:${line}`); // Ctrl+G opens Quick Open with ":" typed; filling replaces it
  await page.keyboard.press('Enter');
  await input.waitFor({ state: 'hidden', timeout: 10_000 });
}

/** The editor's visible text, as the user reads it (Monaco renders spaces as U+00A0). */
async function editorText(page) {
  const text = await page.locator('.editor-instance .monaco-editor .view-lines').first().innerText();
  return text.replace(/\u00a0/g, ' ');
}

async function problemsCount(page) {
  return (await page.locator('[id="status.problems"]').getAttribute('aria-label').catch(() => null)) ?? '';
}

async function statusItem(page) {
  const item = page.locator('.statusbar-item[id$="gemma-review.status"]').first();
  if ((await item.count()) === 0) {
    return null;
  }
  const label = (await item.getAttribute('aria-label')) ?? '';
  const text = ((await item.innerText().catch(() => '')) ?? '').trim();
  return { label, text };
}

async function statusItems(page) {
  return page.locator('.statusbar-item').evaluateAll((nodes) =>
    nodes.map((n) => n.getAttribute('aria-label') || n.textContent || '').filter(Boolean).join(' | '),
  );
}

async function notifications(page) {
  return page.locator('.notification-toast, .notifications-center .notification-list-item').evaluateAll((nodes) =>
    nodes.map((n) => (n.textContent || '').replace(/\s+/g, ' ').trim()),
  );
}

/** Every output log the extension host wrote for the channel (one folder per window). */
function outputLog(dirs) {
  const texts = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        walk(full);
      } else if (entry.name.endsWith(`-${OUTPUT_CHANNEL}.log`) || entry.name === `${OUTPUT_CHANNEL}.log`) {
        // A plain channel is "N-<name>.log"; a LogOutputChannel is "<extension id>/<name>.log".
        texts.push(fs.readFileSync(full, 'utf8'));
      }
    }
  };
  const logs = path.join(dirs.userData, 'logs');
  if (fs.existsSync(logs)) {
    walk(logs);
  }
  return texts.join('\n');
}

function copyLogs(dirs, prefix) {
  const logs = path.join(dirs.userData, 'logs');
  if (fs.existsSync(logs)) {
    fs.cpSync(logs, path.join(artifacts, `${prefix}-vscode-logs`), { recursive: true });
  }
}

/** The language server ran the whole time: started once, no crash or traceback logged. */
function assertNoCrash(dirs) {
  const log = outputLog(dirs);
  for (const sign of ['crashed', 'Traceback', 'The language server did not start', 'Connection to server got closed']) {
    if (log.includes(sign)) {
      throw new Error(`the output log says "${sign}": ${log.slice(-800)}`);
    }
  }
  // A LogOutputChannel prefixes each line with its time and level: "... [info] Starting ...".
  const starts = log.split('\n').filter((line) => /^(?:\S+ \S+ \[\w+\] )?Starting /.test(line)).length;
  if (starts !== 1) {
    throw new Error(`the language server was started ${starts} times (a crash and restart?): ${log.slice(-800)}`);
  }
}

function checkBehaviour(file) {
  const result = run(python, [path.join(HERE, 'behaviour.py'), 'streak.py', file], { cwd: REPO, timeout: 60_000 });
  return result;
}

// ---------------------------------------------------------------------------- scenarios

async function scenarioModelUp(browser, scratch) {
  const fake = await step('start the fake Ollama', () => startFakeModel(0));
  const dirs = prepareScenario(scratch, 'model-up', fake.url);
  const file = path.join(dirs.workspace, 'streak.py');
  let server;
  try {
    server = await step('start code-server with the packaged extension installed', async () => {
      installExtension(dirs);
      return startCodeServer(dirs, 'code-server-model-up.log');
    });
    const page = await step('open the workspace in VS Code', () => openWorkbench(browser, server.url));

    await step('open streak.py and see the finding squiggled on its line', async () => {
      await openFile(page, 'streak.py');
      await waitFor(
        'the status bar to count one error',
        async () => /Errors: 1\b/.test(await problemsCount(page)),
        { seen: async () => `problems "${await problemsCount(page)}", output log: ${outputLog(dirs).slice(-400) || '(empty)'}` },
      );
      await waitFor('a red squiggle in the editor', async () => (await page.locator('.monaco-editor .squiggly-error').count()) > 0);
      await goToLine(page, FINDING_LINE);
      // The hover over the squiggle shows what the user reads.
      // The squiggle lies under the text layer: move the mouse there as a user would.
      const box = await page.locator('.monaco-editor .squiggly-error').first().boundingBox();
      if (box) {
        await page.mouse.move(box.x + Math.min(40, box.width / 2), box.y + box.height / 2);
      }
      const hover = page.locator('.monaco-hover', { hasText: FINDING_TITLE }).first();
      await hover.waitFor({ timeout: 10_000 });
      await shot(page, '01-editor-squiggle.png');
      // VS Code puts the diagnostic and the server's hover in one box: each text once.
      const hoverText = (await hover.textContent()) ?? '';
      const titles = hoverText.split(FINDING_TITLE).length - 1;
      if (titles !== 1 || !/gemma-review bug, error, confidence \d+%/.test(hoverText)) {
        throw new Error(`the hover should name the finding once and add the confidence; it reads: ${hoverText}`);
      }
      await page.keyboard.press('Escape');
    });

    await step(`Problems panel lists "${FINDING_TITLE}" on line ${FINDING_LINE}`, async () => {
      await focusEditor(page);
      await page.keyboard.press('Control+Shift+M');
      const rows = page.locator('.markers-panel .monaco-list-row');
      const row = await waitFor(
        `a Problems row naming the finding`,
        async () => {
          const labels = await rows.evaluateAll((nodes) => nodes.map((n) => `${n.getAttribute('aria-label') ?? ''} ${n.textContent ?? ''}`));
          return labels.find((label) => label.includes(FINDING_TITLE));
        },
        { seen: async () => JSON.stringify(await rows.evaluateAll((nodes) => nodes.map((n) => n.textContent))) },
      );
      const where = /\[Ln \d+, Col \d+\]/.exec(row)?.[0] ?? row.slice(0, 200);
      if (!new RegExp(`\\[Ln ${FINDING_LINE}, `).test(row)) {
        throw new Error(`the row is not on line ${FINDING_LINE} but at ${where}`);
      }
      if (!row.includes('gemma-review')) {
        throw new Error(`the row does not name gemma-review as its source: ${row.slice(0, 200)}`);
      }
      await shot(page, '02-problems-panel.png');
    });

    await step(`status bar shows the model ${MODEL}`, async () => {
      await waitFor(
        `a Gemma Review status bar item showing ${MODEL}`,
        async () => {
          const item = await statusItem(page);
          return item && (item.text.includes(MODEL) || item.label.includes(MODEL));
        },
        { seen: async () => `status bar: ${await statusItems(page)}` },
      );
      // Its tooltip says more: the state and the backend.
      const item = page.locator('.statusbar-item[id$="gemma-review.status"]').first();
      await item.hover();
      await page.locator('.monaco-hover, .workbench-hover', { hasText: 'Gemma Review' }).first().waitFor({ timeout: 10_000 }).catch(() => {});
      await shot(page, '03-status-bar.png');
      await page.mouse.move(700, 300);
    });

    await step('the quick fix on the finding deduplicates the dates', async () => {
      await goToLine(page, FINDING_LINE);
      await page.keyboard.press('Control+.');
      const fix = page.locator('.action-widget .monaco-list-row', { hasText: `Apply Gemma fix: ${FINDING_TITLE}` }).first();
      await waitFor('the quick fix menu to offer "Apply Gemma fix"', async () => (await fix.count()) > 0, {
        timeout: 15_000,
        seen: async () =>
          JSON.stringify(await page.locator('.action-widget .monaco-list-row').evaluateAll((nodes) => nodes.map((n) => n.textContent))),
      });
      await shot(page, '04-quick-fix-menu.png');
      // Choose it with the keyboard (clicks on the menu's rows are swallowed in headless Chromium).
      const rows = page.locator('.action-widget .monaco-list-row.action');
      await waitFor(
        'the "Apply Gemma fix" row to get the keyboard focus',
        async () => {
          const focused = (await rows.evaluateAll((nodes) => nodes.filter((n) => n.classList.contains('focused')).map((n) => n.textContent)))[0] ?? '';
          if (focused.includes('Apply Gemma fix')) {
            return true;
          }
          await page.keyboard.press('ArrowDown');
          return false;
        },
        { timeout: 10_000, seen: async () => JSON.stringify(await rows.evaluateAll((nodes) => nodes.map((n) => `${n.className}: ${n.textContent}`))) },
      );
      await page.keyboard.press('Enter');
      await waitFor('the editor to show the deduplicating loop', async () => (await editorText(page)).includes(FIXED_LOOP), {
        timeout: 15_000,
        seen: async () => (await editorText(page)).slice(0, 600),
      });
      await page.keyboard.press('Control+S');
      await waitFor('the saved file to hold the fix', () => fs.readFileSync(file, 'utf8').includes(FIXED_LOOP), {
        timeout: 15_000,
        seen: () => fs.readFileSync(file, 'utf8'),
      });
      const behaviour = checkBehaviour(file);
      if (!behaviour.ok) {
        throw new Error(`the fixed calculate_streak still miscounts: ${behaviour.output}`);
      }
      // The review after the save finds nothing left to report.
      await waitFor('the Problems count to drop to zero after the save', async () => !/Errors: [1-9]/.test(await problemsCount(page)), {
        timeout: 30_000,
        seen: async () => problemsCount(page),
      });
      await shot(page, '05-after-fix.png');
    });

    await step('"Refactor Selection with Gemma" on the function produces an edit', async () => {
      const before = fs.readFileSync(file, 'utf8');
      const defLine = before.split('\n').findIndex((line) => line.startsWith('def calculate_streak(')) + 1;
      await goToLine(page, defLine);
      await page.keyboard.press('Home');
      await page.keyboard.press('Control+Shift+End'); // the function runs to the end of the file
      await runCommand(page, 'Gemma Review: Refactor Selection with Gemma');
      await waitFor('the editor to show the refactored function', async () => (await editorText(page)).includes(REFACTORED_MARK), {
        timeout: 30_000,
        seen: async () => {
          const toasts = await notifications(page);
          return `notifications ${JSON.stringify(toasts)}; editor: ${(await editorText(page)).slice(0, 300)}`;
        },
      });
      await page.keyboard.press('Control+S');
      await waitFor('the saved file to hold the refactored function', () => fs.readFileSync(file, 'utf8').includes(REFACTORED_MARK), {
        timeout: 15_000,
        seen: () => fs.readFileSync(file, 'utf8'),
      });
      const behaviour = checkBehaviour(file);
      if (!behaviour.ok) {
        throw new Error(`the refactored calculate_streak miscounts: ${behaviour.output}`);
      }
      await shot(page, '06-after-refactor.png');
    });

    await step(`the "${OUTPUT_CHANNEL}" output shows the server's log`, async () => {
      await runCommand(page, 'Gemma Review: Show Output');
      const wanted = ['reviewed streak.py', 'refactor of'];
      await waitFor(
        `the output log to hold ${wanted.map((w) => `"${w}"`).join(' and ')}`,
        () => wanted.every((w) => outputLog(dirs).includes(w)),
        { timeout: 20_000, seen: () => outputLog(dirs).slice(-800) || '(no output log written)' },
      );
      const panel = page.locator('.part.panel .output-view, .part.panel [id="workbench.panel.output"]').first();
      await waitFor(
        'the Output panel to show the server log',
        async () => ((await panel.innerText().catch(() => '')) || '').replace(/\u00a0/g, ' ').includes('reviewed streak.py'),
        { timeout: 15_000, seen: async () => ((await panel.innerText().catch(() => '')) || '(no output panel)').slice(0, 400) },
      );
      await shot(page, '07-output-channel.png');
    });
    await page.context().close();
  } finally {
    currentPage = undefined;
    await stopProcess(server?.child);
    await stopProcess(fake.child);
    copyLogs(dirs, 'model-up');
  }
}

async function scenarioModelDown(browser, scratch) {
  const port = await freePort(); // nothing listens here until the fake is started below
  const downUrl = `http://127.0.0.1:${port}`;
  const dirs = prepareScenario(scratch, 'model-down', downUrl);
  let server;
  let fake;
  try {
    server = await step('restart code-server for the model-down scenario', async () => {
      installExtension(dirs);
      return startCodeServer(dirs, 'code-server-model-down.log');
    });
    const page = await step('open the workspace again, with the model server down', () => openWorkbench(browser, server.url));

    await step('a notification says how to start Ollama', async () => {
      await openFile(page, 'streak.py');
      await waitFor(
        'a notification mentioning `ollama serve`',
        async () => (await notifications(page)).some((text) => text.includes('ollama serve')),
        { seen: async () => `notifications ${JSON.stringify(await notifications(page))}; output log: ${outputLog(dirs).slice(-400)}` },
      );
      await waitFor(
        `the status bar to show ${MODEL} unavailable`,
        async () => {
          const item = await statusItem(page);
          return item && /unavailable/.test(`${item.text} ${item.label}`);
        },
        { timeout: 15_000, seen: async () => `status bar: ${await statusItems(page)}` },
      );
      // Toasts show one line; expand it so the screenshot shows the whole advice.
      const toast = page.locator('.notification-toast', { hasText: 'ollama serve' }).first();
      await toast.hover();
      const expand = toast.locator('.codicon-notifications-expand');
      if ((await expand.count()) > 0) {
        await expand.first().click({ force: true }).catch(() => {});
      }
      await sleep(500); // the toast's slide-in animation
      await shot(page, '08-model-down-notification.png');
    });

    await step('the notice is plain text with Show log and Retry', async () => {
      const text = (await notifications(page)).find((t) => t.includes('ollama serve')) ?? '';
      if (text.includes('`') || !text.includes('Show log') || !text.includes('Retry')) {
        throw new Error(`the model-down notice should be plain text with Show log and Retry; it reads: ${text}`);
      }
      const shown = (await notifications(page)).filter((t) => t.includes('ollama serve'));
      if (shown.length !== 1) {
        throw new Error(`one model-down notice expected, found ${JSON.stringify(shown)}`);
      }
    });

    await step('nothing crashed: once the model is back, the bug is found without a restart or a command', async () => {
      assertNoCrash(dirs);
      fake = await startFakeModel(port);
      await waitFor('the status bar to count one error', async () => /Errors: 1\b/.test(await problemsCount(page)), {
        seen: async () => `problems "${await problemsCount(page)}"; output log: ${outputLog(dirs).slice(-400)}`,
      });
      await waitFor(
        'the model-down notice to close',
        async () => !(await notifications(page)).some((text) => text.includes('ollama serve')),
        { timeout: 15_000, seen: async () => `notifications ${JSON.stringify(await notifications(page))}` },
      );
      await waitFor(
        `the status bar to show ${MODEL} ready again`,
        async () => {
          const item = await statusItem(page);
          return item && item.text.includes(MODEL) && !/unavailable/.test(item.text);
        },
        { timeout: 15_000, seen: async () => `status bar: ${await statusItems(page)}` },
      );
      assertNoCrash(dirs);
      await shot(page, '09-model-back.png');
    });
    await page.context().close();
  } finally {
    currentPage = undefined;
    await stopProcess(server?.child);
    await stopProcess(fake?.child);
    copyLogs(dirs, 'model-down');
  }
}

// ---------------------------------------------------------------------------- dismiss for the team

const DISMISS_TITLE = 'Dismiss for the team…';
const DISMISS_REASON = 'dates are unique upstream';
const DISMISS_WHO = 'Vee Code <vee@example.invalid>';

function git(cwd, ...args) {
  const result = run('git', args, { cwd });
  if (!result.ok) {
    throw new Error(`git ${args.join(' ')} failed in ${cwd}: ${result.output}`);
  }
  return result.output;
}

/** Open the quick fix menu at the cursor and choose ``title`` with the keyboard. */
async function chooseCodeAction(page, title) {
  await page.keyboard.press('Control+.');
  const wanted = page.locator('.action-widget .monaco-list-row', { hasText: title }).first();
  await waitFor(`the quick fix menu to offer "${title}"`, async () => (await wanted.count()) > 0, {
    timeout: 15_000,
    seen: async () =>
      JSON.stringify(await page.locator('.action-widget .monaco-list-row').evaluateAll((nodes) => nodes.map((n) => n.textContent))),
  });
  // Clicks on the menu's rows are swallowed in headless Chromium: move the focus with the arrows.
  const rows = page.locator('.action-widget .monaco-list-row.action');
  await waitFor(
    `the "${title}" row to get the keyboard focus`,
    async () => {
      const focused = (await rows.evaluateAll((nodes) => nodes.filter((n) => n.classList.contains('focused')).map((n) => n.textContent)))[0] ?? '';
      if (focused.includes(title)) {
        return true;
      }
      await page.keyboard.press('ArrowDown');
      return false;
    },
    { timeout: 10_000, seen: async () => JSON.stringify(await rows.evaluateAll((nodes) => nodes.map((n) => `${n.className}: ${n.textContent}`))) },
  );
  await page.keyboard.press('Enter');
}

/**
 * Issue 21 as a user lives it: in a git repository, "Dismiss for the team…" on the finding asks
 * for the reason in an input box; the finding leaves the editor, the store shows in
 * ``git status`` holding the reason; a clone of the commit that adds it, opened in a fresh VS
 * Code reviewing the whole file, never shows the finding.
 */
async function scenarioDismiss(browser, scratch) {
  const fake = await step('start the fake Ollama for the dismiss scenario', () => startFakeModel(0));
  const dirs = prepareScenario(scratch, 'dismiss', fake.url);
  const workspace = dirs.workspace;
  let server;
  let cloneServer;
  let cloneDirs;
  try {
    await step('make the workspace a git repository whose streak.py is new', () => {
      git(workspace, 'init', '-q', '-b', 'main');
      git(workspace, 'config', 'user.name', 'Vee Code');
      git(workspace, 'config', 'user.email', 'vee@example.invalid');
      fs.writeFileSync(path.join(workspace, 'README.md'), 'streaks\n');
      git(workspace, 'add', 'README.md');
      git(workspace, 'commit', '-q', '-m', 'start');
    });
    server = await step('restart code-server on the git repository', async () => {
      installExtension(dirs);
      return startCodeServer(dirs, 'code-server-dismiss.log');
    });
    const page = await step('open the repository in VS Code', () => openWorkbench(browser, server.url));

    await step('open streak.py and see the finding', async () => {
      await openFile(page, 'streak.py');
      await waitFor('the status bar to count one error', async () => /Errors: 1\b/.test(await problemsCount(page)), {
        seen: async () => `problems "${await problemsCount(page)}", output log: ${outputLog(dirs).slice(-400) || '(empty)'}`,
      });
    });

    await step(`"${DISMISS_TITLE}" asks for the reason in an input box`, async () => {
      await goToLine(page, FINDING_LINE);
      await chooseCodeAction(page, DISMISS_TITLE);
      const box = page.locator('.quick-input-widget', { hasText: 'Why dismiss this finding' }).first();
      await box.waitFor({ state: 'visible', timeout: 15_000 });
      await page.locator('.quick-input-widget input').fill(DISMISS_REASON);
      await shot(page, '10-dismiss-reason.png');
      await page.keyboard.press('Enter');
      await box.waitFor({ state: 'hidden', timeout: 10_000 });
    });

    await step('the finding leaves the editor and the Problems count', async () => {
      await waitFor('the Problems count to drop to zero', async () => !/Errors: [1-9]/.test(await problemsCount(page)), {
        timeout: 30_000,
        seen: async () => `problems "${await problemsCount(page)}"; notifications ${JSON.stringify(await notifications(page))}`,
      });
      await waitFor('the squiggle to go', async () => (await page.locator('.monaco-editor .squiggly-error').count()) === 0, {
        timeout: 10_000,
      });
      await shot(page, '11-after-dismiss.png');
    });

    await step('git status lists .gemma-review/ and the record holds the reason', () => {
      const status = git(workspace, 'status', '--porcelain');
      if (!status.split('\n').includes('?? .gemma-review/')) {
        throw new Error(`git status --porcelain does not list .gemma-review/: ${JSON.stringify(status)}`);
      }
      const store = path.join(workspace, '.gemma-review', 'decisions.jsonl');
      const records = fs.readFileSync(store, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
      const matching = records.filter((r) => r.title === FINDING_TITLE && r.path === 'streak.py');
      if (records.length !== 1 || matching.length !== 1) {
        throw new Error(`one record of "${FINDING_TITLE}" expected in ${store}: ${JSON.stringify(records)}`);
      }
      const [record] = matching;
      if (record.reason !== DISMISS_REASON || record.verdict !== 'dismissed' || record.who !== DISMISS_WHO) {
        throw new Error(`the record should hold the reason, verdict and who: ${JSON.stringify(record)}`);
      }
    });
    await page.context().close();
    await stopProcess(server.child);
    server = undefined;

    cloneDirs = prepareScenario(scratch, 'dismiss-clone', fake.url, { 'gemma-review.scope': 'file' });
    await step('commit the code and the store; a colleague clones it', () => {
      git(workspace, 'add', 'streak.py', '.gemma-review');
      git(workspace, 'commit', '-q', '-m', 'streak, and the decision about its duplicate dates');
      fs.rmSync(cloneDirs.workspace, { recursive: true, force: true });
      git(scratch, 'clone', '-q', workspace, cloneDirs.workspace);
      if (!fs.existsSync(path.join(cloneDirs.workspace, '.gemma-review', 'decisions.jsonl'))) {
        throw new Error('the clone has no .gemma-review/decisions.jsonl');
      }
    });
    cloneServer = await step('start a fresh code-server (empty review cache) on the clone', async () => {
      installExtension(cloneDirs);
      return startCodeServer(cloneDirs, 'code-server-dismiss-clone.log');
    });
    const clonePage = await step('open the clone in VS Code', () => openWorkbench(browser, cloneServer.url));
    await step('the model reviews the whole of streak.py in the clone and the finding is never shown', async () => {
      await openFile(clonePage, 'streak.py');
      let everShown = '';
      // The fake model answered when the server logs the review as done "by" the model (not the cache).
      await waitFor(
        'the output log to say the model reviewed streak.py',
        async () => {
          const count = await problemsCount(clonePage);
          if (/(Errors|Warnings): [1-9]/.test(count)) {
            everShown = count;
          }
          return /reviewed streak\.py: \d+ findings?, 1 unit, 1 by /.test(outputLog(cloneDirs));
        },
        { interval: 100, seen: () => outputLog(cloneDirs).slice(-800) || '(no output log)' },
      );
      await sleep(1000); // anything the server published with the log line
      const count = await problemsCount(clonePage);
      if (everShown || /(Errors|Warnings): [1-9]/.test(count) || (await clonePage.locator('.monaco-editor .squiggly-error').count()) > 0) {
        throw new Error(`the clone showed the dismissed finding: status bar "${everShown || count}"`);
      }
      if (!/reviewed streak\.py: 0 findings, /.test(outputLog(cloneDirs)) || !/1 finding the team decided about/.test(outputLog(cloneDirs))) {
        throw new Error(`the output log should say 0 findings, one hidden by the team's decision: ${outputLog(cloneDirs).slice(-800)}`);
      }
      await shot(clonePage, '12-clone-never-shows.png');
    });
    await clonePage.context().close();
  } finally {
    currentPage = undefined;
    await stopProcess(server?.child);
    await stopProcess(cloneServer?.child);
    await stopProcess(fake.child);
    copyLogs(dirs, 'dismiss');
    if (cloneDirs) {
      copyLogs(cloneDirs, 'dismiss-clone');
    }
  }
}

// ---------------------------------------------------------------------------- main

async function preflight() {
  return step('check what the test needs (run setup.sh first)', async () => {
    const missing = [
      [codeServerBin, 'code-server'],
      [CHROMIUM, 'Chromium'],
      [vsix, 'the .vsix'],
    ].filter(([file]) => !fs.existsSync(file));
    if (missing.length) {
      const list = missing.map(([file, what]) => `no ${what} at ${file}`).join('; ');
      throw new Error(`${list}; run vscode-extension/test/e2e/setup.sh first`);
    }
    const probe = run(python, ['-c', 'import gemma_review, gemma_review.lsp, pygls'], { cwd: os.tmpdir() });
    if (!probe.ok) {
      throw new Error(
        `${python} cannot import gemma_review and gemma_review.lsp (${probe.output.split('\n').pop()}); ` +
          'set GEMMA_REVIEW_PYTHON to a Python where gemma-review is installed (pip install -e .)',
      );
    }
    const require = createRequire(path.join(cacheDir, 'package.json'));
    return require('playwright-core');
  });
}

async function main() {
  fs.rmSync(artifacts, { recursive: true, force: true });
  fs.mkdirSync(artifacts, { recursive: true });
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gemma-review-e2e-'));
  log(`scratch ${scratch}, artifacts ${artifacts}`);
  let browser;
  try {
    const playwright = await preflight();
    browser = await step('launch headless Chromium', () =>
      playwright.chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS }),
    );
    // GEMMA_REVIEW_E2E_SCENARIOS=dismiss (a comma-separated list) runs only those scenarios.
    const only = (env.GEMMA_REVIEW_E2E_SCENARIOS || '').split(',').map((s) => s.trim()).filter(Boolean);
    const scenarios = { 'model-up': scenarioModelUp, 'model-down': scenarioModelDown, dismiss: scenarioDismiss };
    for (const [name, scenario] of Object.entries(scenarios)) {
      if (!only.length || only.includes(name)) {
        await scenario(browser, scratch);
      }
    }
    log(`all ${stepNumber} steps happened in ${((Date.now() - started) / 1000).toFixed(1)}s; screenshots in ${artifacts}`);
    return 0;
  } catch (error) {
    const message = error instanceof StepFailed ? error.message : `the test itself failed: ${error?.stack ?? error}`;
    process.stderr.write(`\n${message}\nscreenshots and logs: ${artifacts}\n`);
    return 1;
  } finally {
    await browser?.close().catch(() => {});
    stopAllNow();
    if (keepScratch) {
      log(`kept ${scratch}`);
    } else {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  }
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopAllNow();
    process.exit(130);
  });
}

process.exitCode = await main();
