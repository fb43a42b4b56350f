import * as vscode from 'vscode';
import {
  type Executable,
  LanguageClient,
  type LanguageClientOptions,
  type Middleware,
  RevealOutputChannelOn,
} from 'vscode-languageclient/node';
import { CLIENT_ID, Commands, LANGUAGES, MODEL_NOTICE_CAPABILITY, OUTPUT_CHANNEL_NAME, SECTION } from './constants';
import type { ServerLaunch } from './locate';
import { serverSettings } from './settings';

const SUPPORTED: ReadonlySet<string> = new Set(LANGUAGES);

export type PreparedArguments = { args: unknown[] } | { problem: string };

/** Why the active editor cannot be reviewed, if it cannot. */
export function editorProblem(editor: vscode.TextEditor | undefined): string | undefined {
  if (!editor) {
    return 'Gemma Review: open a file to review first.';
  }
  const document = editor.document;
  if (document.uri.scheme !== 'file') {
    return 'Gemma Review: save the file first; only files on disk are reviewed.';
  }
  if (!SUPPORTED.has(document.languageId)) {
    return `Gemma Review: ${document.languageId} files are not reviewed (Python, JavaScript, TypeScript, Go and Rust are).`;
  }
  return undefined;
}

/** The argument of the server's `gemma-review.refactor`: the file and the selected range. */
export function selectionArgument(editor: vscode.TextEditor | undefined): PreparedArguments {
  const problem = editorProblem(editor);
  if (problem || !editor) {
    return { problem: problem ?? '' };
  }
  const selection = editor.selection;
  if (selection.isEmpty) {
    return { problem: 'Gemma Review: select the code to refactor first.' };
  }
  const position = (p: vscode.Position) => ({ line: p.line, character: p.character });
  return {
    args: [
      {
        uri: editor.document.uri.toString(),
        range: { start: position(selection.start), end: position(selection.end) },
      },
    ],
  };
}

/**
 * Commands run from the palette arrive without arguments: give the server the active
 * file (and the selection for refactor). A URI from a menu becomes the string the server expects.
 */
export function prepareCommandArguments(
  command: string,
  args: unknown[],
  editor: vscode.TextEditor | undefined,
): PreparedArguments {
  if (command === Commands.reviewFile || command === Commands.reviewChanges) {
    if (args.length > 0) {
      return { args: args.map((arg) => (arg instanceof vscode.Uri ? arg.toString() : arg)) };
    }
    const problem = editorProblem(editor);
    return problem || !editor ? { problem: problem ?? '' } : { args: [editor.document.uri.toString()] };
  }
  if (command === Commands.refactor && args.length === 0) {
    return selectionArgument(editor);
  }
  return { args };
}

function defaultScope(): vscode.Uri | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri;
}

/**
 * `gemma-review.dismiss` from the code action carries `{uri, fingerprint}`: ask for the
 * reason in an input box (the server would otherwise ask with fixed choices). Undefined
 * when the user pressed Escape.
 */
export async function withDismissReason(args: unknown[]): Promise<unknown[] | undefined> {
  const first = args[0];
  if (typeof first !== 'object' || first === null || typeof (first as { reason?: unknown }).reason === 'string') {
    return args;
  }
  const reason = await vscode.window.showInputBox({
    prompt: 'Why dismiss this finding for everyone working on the repository? (recorded in .gemma-review/decisions.jsonl)',
    placeHolder: 'e.g. false positive: dates are unique upstream',
    ignoreFocusOut: true,
  });
  if (reason === undefined) {
    return undefined;
  }
  return [{ ...(first as Record<string, unknown>), reason }, ...args.slice(1)];
}

export function createMiddleware(getClient: () => LanguageClient | undefined): Middleware {
  return {
    executeCommand: async (command, args, next) => {
      if (command === Commands.dismiss) {
        const withReason = await withDismissReason(args);
        return withReason === undefined ? undefined : next(command, withReason);
      }
      const prepared = prepareCommandArguments(command, args, vscode.window.activeTextEditor);
      if ('problem' in prepared) {
        void vscode.window.showInformationMessage(prepared.problem);
        return undefined;
      }
      return next(command, prepared.args);
    },
    workspace: {
      // The server asks for section "gemma-review" and wants only its own settings.
      configuration: async (params, token, next) => {
        const result = await next(params, token);
        if (!Array.isArray(result)) {
          return result;
        }
        return params.items.map((item, index) =>
          item.section === SECTION
            ? serverSettings(item.scopeUri ? vscode.Uri.parse(item.scopeUri) : undefined)
            : result[index],
        );
      },
      // The built-in sync would send the whole section, extension-only settings included.
      didChangeConfiguration: async (sections, next) => {
        const client = getClient();
        if (!client) {
          return next(sections);
        }
        if (!client.isRunning()) {
          return;
        }
        try {
          await client.sendNotification('workspace/didChangeConfiguration', {
            settings: { [SECTION]: serverSettings(defaultScope()) },
          });
        } catch (error) {
          // A launch setting changed and the client is being restarted: the new one
          // gets the settings at start. Any other failure is the client's to report.
          if (client.isRunning()) {
            throw error;
          }
        }
      },
    },
  };
}

export function createLanguageClient(
  server: ServerLaunch,
  outputChannel: vscode.LogOutputChannel,
): LanguageClient {
  const folder = defaultScope();
  const serverOptions: Executable = {
    command: server.command,
    args: server.args,
    // No transport: vscode-languageclient would add `--stdio`, which `gemma-review lsp` does not take.
    options: folder ? { cwd: folder.fsPath } : undefined,
  };
  let client: LanguageClient | undefined;
  const clientOptions: LanguageClientOptions = {
    documentSelector: LANGUAGES.map((language) => ({ scheme: 'file', language })),
    // One log channel for the server's messages and, with gemma-review.trace.server, the LSP trace.
    outputChannel,
    traceOutputChannel: outputChannel,
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    // A function, so a restart after a crash sends the current settings.
    initializationOptions: () => serverSettings(defaultScope()),
    synchronize: { configurationSection: SECTION },
    middleware: createMiddleware(() => client),
  };
  client = new LanguageClient(CLIENT_ID, OUTPUT_CHANNEL_NAME, serverOptions, clientOptions);
  // The extension shows "model unavailable" as a notice it can close once the model is back;
  // this tells the server not to send its own window/showMessage for it.
  client.registerFeature({
    fillClientCapabilities(capabilities: { experimental?: Record<string, unknown> }) {
      capabilities.experimental = { ...(capabilities.experimental ?? {}), [MODEL_NOTICE_CAPABILITY]: true };
    },
    initialize() {},
    getState() {
      return { kind: 'static' } as const;
    },
    clear() {},
  });
  return client;
}
