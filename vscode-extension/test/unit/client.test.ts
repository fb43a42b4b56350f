import { beforeEach, describe, expect, it } from 'vitest';
import { Uri, window } from 'vscode';
import { createLanguageClient, createMiddleware, prepareCommandArguments } from '../../src/client';
import { LanguageClient } from '../stub/languageclient';
import { __stub, Selection } from '../stub/vscode';

beforeEach(() => __stub.reset());

describe('prepareCommandArguments', () => {
  it.each(['gemma-review.reviewFile', 'gemma-review.reviewChanges'])('%s from the palette reviews the active file', (command) => {
    const editor = __stub.openEditor('/src/app/main.py', 'python');
    expect(prepareCommandArguments(command, [], window.activeTextEditor)).toEqual({
      args: [editor.document.uri.toString()],
    });
  });

  it('passes a URI from a menu on as the string the server expects', () => {
    const uri = Uri.file('/src/app/main.go');
    expect(prepareCommandArguments('gemma-review.reviewFile', [uri], undefined)).toEqual({ args: ['file:///src/app/main.go'] });
  });

  it.each([
    ['no editor', () => undefined, 'open a file to review first'],
    ['an unsaved buffer', () => __stub.openEditor('Untitled-1', 'python', undefined, 'untitled'), 'save the file first'],
    ['an unsupported language', () => __stub.openEditor('/src/README.md', 'markdown'), 'markdown files are not reviewed'],
  ])('refuses %s with a message', (_, open, message) => {
    open();
    const prepared = prepareCommandArguments('gemma-review.reviewFile', [], window.activeTextEditor);
    expect(prepared).toEqual({ problem: expect.stringContaining(message) });
  });

  it('gives refactor the file and the selected LSP range', () => {
    __stub.openEditor('/src/app/streak.ts', 'typescript', new Selection(3, 4, 9, 0));
    expect(prepareCommandArguments('gemma-review.refactor', [], window.activeTextEditor)).toEqual({
      args: [{ uri: 'file:///src/app/streak.ts', range: { start: { line: 3, character: 4 }, end: { line: 9, character: 0 } } }],
    });
  });

  it('asks for a selection before refactoring', () => {
    __stub.openEditor('/src/app/streak.ts', 'typescript', new Selection(3, 4, 3, 4));
    expect(prepareCommandArguments('gemma-review.refactor', [], window.activeTextEditor)).toEqual({
      problem: 'Gemma Review: select the code to refactor first.',
    });
  });

  it('leaves arguments from the server (code actions) and other commands alone', () => {
    const fromCodeAction = [{ uri: 'file:///a.py', range: { start: { line: 1, character: 0 }, end: { line: 2, character: 0 } } }];
    expect(prepareCommandArguments('gemma-review.refactor', fromCodeAction, undefined)).toEqual({ args: fromCodeAction });
    expect(prepareCommandArguments('gemma-review.other', [], undefined)).toEqual({ args: [] });
  });
});

describe('createLanguageClient', () => {
  it('launches the located command over stdio for the supported file languages', () => {
    __stub.setFolders('/src/app');
    const output = window.createOutputChannel('Gemma Review', { log: true });
    const client = createLanguageClient(
      { command: '/usr/bin/python3', args: ['-m', 'gemma_review', 'lsp'], source: 'interpreter' },
      output as never,
    ) as unknown as LanguageClient;
    expect(client.id).toBe('gemma-review');
    expect(client.name).toBe('Gemma Review');
    // No transport: vscode-languageclient would append --stdio.
    expect(client.serverOptions).toEqual({
      command: '/usr/bin/python3',
      args: ['-m', 'gemma_review', 'lsp'],
      options: { cwd: '/src/app' },
    });
    const options = client.clientOptions;
    expect(options.documentSelector).toEqual(
      ['python', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact', 'go', 'rust'].map((language) => ({
        scheme: 'file',
        language,
      })),
    );
    expect(options.outputChannel).toBe(output);
    expect(options.traceOutputChannel).toBe(output); // the LSP trace goes to the same log channel
    expect(options.revealOutputChannelOn).toBe(4); // Never: the server's log lines must not pop up.
    expect(options.synchronize).toEqual({ configurationSection: 'gemma-review' });
  });
});

describe('dismiss for the team', () => {
  const fingerprint = { uri: 'file:///src/app/main.py', fingerprint: 'e7da485e66fb25fc' };

  it('asks for the reason in an input box and sends it with the command', async () => {
    __stub.answerInputBoxes('dates are unique upstream');
    const execute = createMiddleware(() => undefined).executeCommand;
    const sent: unknown[][] = [];
    await execute?.('gemma-review.dismiss', [fingerprint], async (_command, args) => void sent.push(args));
    expect(__stub.inputBoxes).toHaveLength(1);
    expect(__stub.inputBoxes[0].prompt).toContain('.gemma-review/decisions.jsonl');
    expect(sent).toEqual([[{ ...fingerprint, reason: 'dates are unique upstream' }]]);
  });

  it('sends nothing when the input box is dismissed', async () => {
    __stub.answerInputBoxes(undefined);
    const execute = createMiddleware(() => undefined).executeCommand;
    const sent: unknown[][] = [];
    await expect(execute?.('gemma-review.dismiss', [fingerprint], async (_c, args) => void sent.push(args))).resolves.toBeUndefined();
    expect(sent).toEqual([]);
  });

  it('does not ask again when a reason is given', async () => {
    const execute = createMiddleware(() => undefined).executeCommand;
    const sent: unknown[][] = [];
    await execute?.('gemma-review.dismiss', [{ ...fingerprint, reason: 'known' }], async (_c, args) => void sent.push(args));
    expect(__stub.inputBoxes).toEqual([]);
    expect(sent).toEqual([[{ ...fingerprint, reason: 'known' }]]);
  });
});

describe('configuration sync middleware', () => {
  it('sends the flat server settings to a running server and nothing to a stopping one', async () => {
    __stub.setSetting('gemma-review.model', 'gemma4:e2b');
    __stub.setSetting('gemma-review.path', '/opt/gemma-review');
    const client = new LanguageClient('gemma-review', 'Gemma Review', {}, {});
    const sync = createMiddleware(() => client as never).workspace?.didChangeConfiguration;
    let defaultSync = 0;
    const next = async () => void (defaultSync += 1);
    await sync?.(['gemma-review'], next);
    expect(client.sentNotifications).toEqual([]);
    await client.start();
    await sync?.(['gemma-review'], next);
    expect(client.sentNotifications.at(-1)).toEqual({
      method: 'workspace/didChangeConfiguration',
      params: { settings: { 'gemma-review': { model: 'gemma4:e2b' } } },
    });
    expect(defaultSync).toBe(0);
  });

  it('does not report a notification lost to a restart', async () => {
    const client = new LanguageClient('gemma-review', 'Gemma Review', {}, {});
    await client.start();
    // As vscode-languageclient does when stop() overtakes a notification in flight.
    client.sendNotification = async () => {
      await client.stop();
      throw new Error('Starting server failed');
    };
    const sync = createMiddleware(() => client as never).workspace?.didChangeConfiguration;
    await expect(sync?.(['gemma-review'], async () => undefined)).resolves.toBeUndefined();
  });

  it('passes other failures on to the client', async () => {
    const client = new LanguageClient('gemma-review', 'Gemma Review', {}, {});
    await client.start();
    client.sendNotification = async () => {
      throw new Error('write EPIPE');
    };
    const sync = createMiddleware(() => client as never).workspace?.didChangeConfiguration;
    await expect(sync?.(['gemma-review'], async () => undefined)).rejects.toThrow('write EPIPE');
  });
});
