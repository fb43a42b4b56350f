import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { commands, type ExtensionContext, Uri } from 'vscode';
import { activate, deactivate, readmeUri } from '../../src/extension';
import { fakeServer, LanguageClient, State } from '../stub/languageclient';
import { __stub, EventEmitter, FakeLogOutputChannel, Selection } from '../stub/vscode';
import { EXTENSION_ROOT, program, scratch, settle, until } from './helpers';

let context: { subscriptions: { dispose(): unknown }[]; extensionUri: Uri };

beforeEach(() => {
  __stub.reset();
  fakeServer.reset();
  LanguageClient.instances.length = 0;
  // An empty PATH, so whatever is installed on this machine is not found by accident.
  vi.stubEnv('PATH', scratch());
  context = { subscriptions: [], extensionUri: Uri.file(EXTENSION_ROOT) };
});

afterEach(async () => {
  await deactivate();
  for (const item of context.subscriptions) {
    item.dispose();
  }
  vi.unstubAllEnvs();
});

async function start(): Promise<void> {
  await activate(context as unknown as ExtensionContext);
  await settle();
}

function client(): LanguageClient {
  const last = LanguageClient.instances.at(-1);
  if (!last) {
    throw new Error('no language client was created');
  }
  return last;
}

const statusText = () => __stub.statusBarItems[0].text;

/** The extension's one output channel, which must be a log channel (`{ log: true }`). */
function logChannel(): FakeLogOutputChannel {
  const channel = __stub.outputChannels[0];
  expect(channel).toBeInstanceOf(FakeLogOutputChannel);
  return channel as FakeLogOutputChannel;
}
const OWN_COMMANDS = ['gemma-review.refactorSelection', 'gemma-review.restartServer', 'gemma-review.retry', 'gemma-review.showOutput'];
const SERVER_COMMANDS = ['gemma-review.refactor', 'gemma-review.reviewChanges', 'gemma-review.reviewFile'];

describe('activation with gemma-review found', () => {
  let exe: string;
  beforeEach(async () => {
    exe = program(scratch(), 'gemma-review');
    __stub.setSetting('gemma-review.path', exe);
    await start();
  });

  it('starts `gemma-review lsp` and registers its commands next to the server ones', () => {
    expect(LanguageClient.instances).toHaveLength(1);
    expect(client().serverOptions.command).toBe(exe);
    expect(client().serverOptions.args).toEqual(['lsp']);
    expect(client().state).toBe(State.Running);
    expect(__stub.commandIds()).toEqual([...SERVER_COMMANDS, ...OWN_COMMANDS].sort());
    expect(__stub.outputChannels.map((c) => c.name)).toEqual(['Gemma Review']);
    expect(__stub.outputChannels[0].lines).toContain(`Starting ${exe} lsp (found through setting gemma-review.path)`);
    expect(__stub.messages).toEqual([]);
  });

  it('logs to a LogOutputChannel with levels', async () => {
    const channel = logChannel();
    expect(channel.entries).toContainEqual({ level: 'info', message: `Starting ${exe} lsp (found through setting gemma-review.path)` });
    await commands.executeCommand('gemma-review.restartServer');
    expect(channel.entries).toContainEqual({ level: 'info', message: 'Stopped the language server.' });
  });

  it('shows the server status in the status bar; clicking opens the output', async () => {
    expect(statusText()).toBe('$(check) Gemma Review');
    client().notify('gemma-review/status', { state: 'reviewing', model: 'gemma4:e4b', tokensPerSecond: 41.2 });
    expect(statusText()).toBe('$(sync~spin) gemma4:e4b 41 tok/s');
    client().notify('gemma-review/status', { state: 'unavailable', model: 'gemma4:e4b', message: 'connection refused' });
    expect(statusText()).toBe('$(warning) gemma4:e4b unavailable');
    client().notify('gemma-review/status', { state: 'idle', model: 'gemma4:e4b' });
    expect(statusText()).toBe('$(check) gemma4:e4b');
    await commands.executeCommand(__stub.statusBarItems[0].command as string);
    expect(__stub.outputChannels[0].shown).toBe(1);
  });

  it('tells the server it shows the model-down notice itself, and closes it once the model answers', async () => {
    expect(client().clientCapabilities()).toEqual({ experimental: { gemmaReviewModelNotice: true } });
    client().notify('gemma-review/status', {
      state: 'unavailable', model: 'gemma4:e4b', message: 'nothing answers at http://127.0.0.1:11434: start Ollama (`ollama serve`)',
    });
    client().notify('gemma-review/status', { state: 'unavailable', model: 'gemma4:e4b', message: 'nothing answers at http://127.0.0.1:11434: start Ollama (`ollama serve`)' });
    expect(__stub.progress.map((p) => [p.title, p.open])).toEqual([['Gemma Review', true]]);
    expect(__stub.progress[0].messages[0]).toMatch(/^nothing answers at http:\/\/127\.0\.0\.1:11434: start Ollama \(ollama serve\)\. /);
    expect(__stub.messages).toEqual([]); // no second, unclosable notification
    client().notify('gemma-review/status', { state: 'idle', model: 'gemma4:e4b' });
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(__stub.progress[0].open).toBe(false);
  });

  it('Retry reviews the active file again', async () => {
    __stub.openEditor('/src/app/main.py', 'python');
    await commands.executeCommand('gemma-review.retry');
    expect(client().sentRequests.map((r) => r.params.command)).toEqual(['gemma-review.reviewFile']);
  });

  it('palette Review File sends the active file to the server', async () => {
    const editor = __stub.openEditor('/src/app/main.py', 'python');
    await commands.executeCommand('gemma-review.reviewFile');
    expect(client().sentRequests).toEqual([
      { method: 'workspace/executeCommand', params: { command: 'gemma-review.reviewFile', arguments: [editor.document.uri.toString()] } },
    ]);
  });

  it('Review Changes without a file open tells the user instead of asking the server', async () => {
    await commands.executeCommand('gemma-review.reviewChanges');
    expect(client().sentRequests).toEqual([]);
    expect(__stub.messages).toEqual([{ level: 'info', text: 'Gemma Review: open a file to review first.', items: [] }]);
  });

  it('Refactor Selection with Gemma sends the selection to gemma-review.refactor', async () => {
    __stub.openEditor('/src/app/streak.py', 'python', new Selection(10, 0, 24, 0));
    await commands.executeCommand('gemma-review.refactorSelection');
    expect(client().sentRequests).toEqual([
      {
        method: 'workspace/executeCommand',
        params: {
          command: 'gemma-review.refactor',
          arguments: [{ uri: 'file:///src/app/streak.py', range: { start: { line: 10, character: 0 }, end: { line: 24, character: 0 } } }],
        },
      },
    ]);
  });

  it('a setting change reaches the running server without the extension-only settings', async () => {
    const first = client();
    __stub.setSetting('gemma-review.model', 'gemma4:e2b');
    __stub.setSetting('gemma-review.trace.server', 'verbose');
    await settle();
    expect(LanguageClient.instances).toEqual([first]);
    const changes = first.sentNotifications.filter((n) => n.method === 'workspace/didChangeConfiguration');
    expect(changes.at(-1)?.params).toEqual({ settings: { 'gemma-review': { model: 'gemma4:e2b' } } });
  });

  it('answers the server`s workspace/configuration with the flat server settings', async () => {
    __stub.setSetting('gemma-review.minSeverity', 'warning');
    __stub.setSetting('gemma-review.interpreter', '/usr/bin/python3');
    expect(await client().requestConfiguration([{ section: 'gemma-review' }, { section: 'editor.tabSize' }])).toEqual([
      { minSeverity: 'warning' },
      undefined,
    ]);
  });

  it('restarts with the new executable when gemma-review.path changes', async () => {
    const first = client();
    const other = program(scratch(), 'gemma-review-dev');
    __stub.setSetting('gemma-review.path', [other, '--verbose']);
    await until(() => LanguageClient.instances.length === 2, 'the restart');
    expect(first.disposed).toBe(true);
    expect(LanguageClient.instances).toHaveLength(2);
    expect(client().serverOptions).toMatchObject({ command: other, args: ['--verbose', 'lsp'] });
    expect(client().state).toBe(State.Running);
  });

  it('Restart Server starts a new client', async () => {
    await commands.executeCommand('gemma-review.restartServer');
    expect(LanguageClient.instances).toHaveLength(2);
    expect(LanguageClient.instances[0].disposed).toBe(true);
    expect(client().state).toBe(State.Running);
  });

  it('after a crash the review commands explain and offer a restart', async () => {
    __stub.answerMessages((message) => (message.items.includes('Restart Server') ? 'Restart Server' : undefined));
    client().crash();
    expect(statusText()).toBe('$(circle-slash) Gemma Review');
    await commands.executeCommand('gemma-review.reviewFile');
    await until(() => LanguageClient.instances.length === 2, 'the restart');
    expect(__stub.messages[0]).toMatchObject({ level: 'error', text: 'Gemma Review: the language server is not running.' });
    expect(LanguageClient.instances).toHaveLength(2);
    expect(client().state).toBe(State.Running);
  });

  it('deactivation stops the server', async () => {
    await deactivate();
    expect(client().disposed).toBe(true);
  });
});

describe('settings sent at start', () => {
  it('initializationOptions are the flat server settings the user set', async () => {
    __stub.setSetting('gemma-review.path', program(scratch(), 'gemma-review'));
    __stub.setSetting('gemma-review.host', 'http://127.0.0.1:8080');
    __stub.setSetting('gemma-review.backend', 'openai');
    __stub.setSetting('gemma-review.categories', ['bug']);
    await start();
    expect(client().initializationOptions).toEqual({ host: 'http://127.0.0.1:8080', backend: 'openai', categories: ['bug'] });
  });
});

describe('activation with gemma-review missing', () => {
  it('says so with a button that opens the install instructions', async () => {
    const opened: unknown[] = [];
    commands.registerCommand('markdown.showPreview', (uri: unknown) => opened.push(uri));
    __stub.answerMessages((message) => (message.items.includes('Install Instructions') ? 'Install Instructions' : undefined));
    await start();
    expect(LanguageClient.instances).toEqual([]);
    expect(__stub.messages).toHaveLength(1);
    expect(__stub.messages[0].level).toBe('warning');
    expect(__stub.messages[0].text).toContain('gemma-review was not found');
    expect(__stub.messages[0].items).toEqual(['Install Instructions', 'Show Output']);
    expect(opened).toEqual([Uri.file(path.join(EXTENSION_ROOT, 'README.md'))]);
    expect(statusText()).toBe('$(error) Gemma Review');
    expect(__stub.outputChannels[0].lines).toContain('Not using PATH: gemma-review is not on PATH');
    expect(logChannel().entries).toContainEqual({ level: 'warn', message: 'Not using PATH: gemma-review is not on PATH' });
    expect(logChannel().entries).toContainEqual({
      level: 'error',
      message: 'gemma-review was not found; install it or set gemma-review.path.',
    });
  });

  it('finds the README under the lower-case name vsce packages it as', () => {
    const dir = scratch();
    writeFileSync(path.join(dir, 'readme.md'), '# Gemma Review');
    expect(readmeUri(Uri.file(dir))).toEqual(Uri.file(path.join(dir, 'readme.md')));
    expect(readmeUri(Uri.file(EXTENSION_ROOT))).toEqual(Uri.file(path.join(EXTENSION_ROOT, 'README.md')));
  });

  it('keeps the palette review commands, which repeat the notification', async () => {
    await start();
    expect(__stub.commandIds()).toEqual(['gemma-review.reviewChanges', 'gemma-review.reviewFile', ...OWN_COMMANDS].sort());
    await commands.executeCommand('gemma-review.reviewChanges');
    __stub.openEditor('/src/a.py', 'python', new Selection(1, 0, 2, 0));
    await commands.executeCommand('gemma-review.refactorSelection');
    expect(__stub.messages.map((m) => m.text)).toEqual(Array(3).fill(__stub.messages[0].text));
  });

  it('starts the server once gemma-review.path points at it, replacing the fallbacks', async () => {
    await start();
    __stub.setSetting('gemma-review.path', program(scratch(), 'gemma-review'));
    await until(() => LanguageClient.instances.length === 1, 'the start');
    expect(client().state).toBe(State.Running);
    __stub.openEditor('/src/a.rs', 'rust');
    await commands.executeCommand('gemma-review.reviewFile');
    expect(client().sentRequests).toHaveLength(1);
  });

  it('finds gemma-review on PATH', async () => {
    const exe = program(scratch(), 'gemma-review');
    vi.stubEnv('PATH', path.dirname(exe));
    await start();
    expect(client().serverOptions.command).toBe(exe);
  });
});

describe('a server that does not start', () => {
  it('reports the error, offers a restart and keeps the commands answering', async () => {
    __stub.setSetting('gemma-review.path', program(scratch(), 'gemma-review'));
    fakeServer.failStart = 'Server initialization failed: unknown command lsp';
    await start();
    expect(__stub.messages[0]).toEqual({
      level: 'error',
      text: 'Gemma Review: the language server did not start: Server initialization failed: unknown command lsp',
      items: ['Restart Server', 'Show Output'],
    });
    expect(statusText()).toBe('$(circle-slash) Gemma Review');
    expect(logChannel().entries).toContainEqual({
      level: 'error',
      message: 'The language server did not start: Server initialization failed: unknown command lsp',
    });
    expect(__stub.commandIds()).toContain('gemma-review.reviewFile');
    fakeServer.failStart = undefined;
    await commands.executeCommand('gemma-review.restartServer');
    expect(client().state).toBe(State.Running);
  });
});

describe('the Python extension', () => {
  function installPython(executable: string) {
    const changed = new EventEmitter<unknown>();
    const state = { executable };
    const api = {
      environments: {
        getActiveEnvironmentPath: () => ({ id: state.executable, path: state.executable }),
        resolveEnvironment: async (env: { path: string }) => ({ executable: { uri: Uri.file(env.path) } }),
        onDidChangeActiveEnvironmentPath: changed.event,
      },
    };
    __stub.addExtension('ms-python.python', { isActive: true, exports: api, activate: async () => api });
    return {
      select(next: string) {
        state.executable = next;
        changed.fire({});
      },
    };
  }

  it('runs its interpreter as python -m gemma_review lsp, and follows a new selection', async () => {
    const dir = scratch();
    const python = installPython(program(dir, 'venv1/bin/python'));
    await start();
    expect(client().serverOptions).toMatchObject({ command: path.join(dir, 'venv1/bin/python'), args: ['-m', 'gemma_review', 'lsp'] });
    python.select(program(dir, 'venv2/bin/python'));
    await until(() => LanguageClient.instances.length === 2, 'the restart');
    expect(client().serverOptions.command).toBe(path.join(dir, 'venv2/bin/python'));
  });

  it('is passed over for an interpreter without gemma_review', async () => {
    installPython(program(scratch(), 'python', 3));
    await start();
    expect(LanguageClient.instances).toEqual([]);
    expect(__stub.outputChannels[0].lines.join('\n')).toContain("the Python extension's interpreter");
    expect(__stub.outputChannels[0].lines.join('\n')).toContain('gemma_review is not installed in it');
  });

  it('is not asked in an untrusted workspace until trust is granted', async () => {
    installPython(program(scratch(), 'python'));
    __stub.setTrusted(false);
    await start();
    expect(LanguageClient.instances).toEqual([]);
    __stub.grantTrust();
    await until(() => LanguageClient.instances.length === 1, 'the restart');
    expect(client().serverOptions.args).toEqual(['-m', 'gemma_review', 'lsp']);
  });
});

describe('an untrusted workspace', () => {
  it('ignores a workspace gemma-review.path', async () => {
    __stub.setTrusted(false);
    __stub.setSetting('gemma-review.path', program(scratch(), 'gemma-review'), 'workspace');
    await start();
    expect(LanguageClient.instances).toEqual([]);
  });
});
