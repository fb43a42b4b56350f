import { readdirSync } from 'node:fs';
import * as os from 'node:os';
import * as vscode from 'vscode';
import { selectionArgument } from './client';
import { Commands, LAUNCH_SETTINGS, OUTPUT_CHANNEL_NAME, SECTION } from './constants';
import { type LocateContext, locateServer, type PythonLookup } from './locate';
import { activeInterpreter, onInterpreterChange } from './python';
import { ModelNotice } from './notice';
import { ServerController } from './server';
import { readLaunchSettings } from './settings';
import { StatusBar } from './status';

let controller: ServerController | undefined;

/** What the server locator needs to know about this window. */
export function locateContext(pythonExtension: LocateContext['pythonExtension']): LocateContext {
  return {
    platform: process.platform,
    env: process.env,
    homedir: os.homedir(),
    workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
    // A workspace's own virtualenv is code from that workspace: only run it when trusted.
    pythonExtension: vscode.workspace.isTrusted ? pythonExtension : undefined,
  };
}

/** The packaged README: vsce stores README.md as readme.md, and file names are case-sensitive. */
export function readmeUri(extensionUri: vscode.Uri): vscode.Uri {
  let name = 'README.md';
  try {
    name = readdirSync(extensionUri.fsPath).find((file) => file.toLowerCase() === 'readme.md') ?? name;
  } catch {
    // Keep the usual name; opening it will say what is wrong.
  }
  return vscode.Uri.joinPath(extensionUri, name);
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  // A log channel: timestamped lines with levels, and the user can pick the level shown.
  const output = vscode.window.createOutputChannel(OUTPUT_CHANNEL_NAME, { log: true });
  const status = new StatusBar();
  const notice = new ModelNotice();
  const readme = readmeUri(context.extensionUri);

  let watchingPython = false;
  const server: ServerController = new ServerController({
    output,
    status,
    notice,
    locate: () =>
      locateServer(readLaunchSettings(vscode.workspace.isTrusted), locateContext(pythonInterpreter)),
    openInstallInstructions: async () => {
      try {
        await vscode.commands.executeCommand('markdown.showPreview', readme);
      } catch {
        await vscode.commands.executeCommand('vscode.open', readme);
      }
    },
  });
  controller = server;

  // Asked only when the settings found nothing, so the Python extension is not woken needlessly.
  async function pythonInterpreter(): Promise<PythonLookup> {
    const lookup = await activeInterpreter(vscode.workspace.workspaceFolders?.[0]?.uri);
    if (!watchingPython) {
      watchingPython = true;
      // Selecting another interpreter may be how the user fixes "not found".
      const listener = await onInterpreterChange(() => {
        if (server.source === 'python-extension' || !server.isRunning) {
          void server.restart();
        }
      });
      if (listener) {
        context.subscriptions.push(listener);
      }
    }
    return lookup;
  }

  context.subscriptions.push(
    output,
    status,
    notice,
    vscode.commands.registerCommand(Commands.showOutput, () => output.show(true)),
    vscode.commands.registerCommand(Commands.retry, async () => {
      // The server asks the model again every few seconds by itself; this does it now.
      if (vscode.window.activeTextEditor && server.isRunning) {
        await vscode.commands.executeCommand(Commands.reviewFile);
      }
    }),
    vscode.commands.registerCommand(Commands.restartServer, () => server.restart()),
    vscode.commands.registerCommand(Commands.refactorSelection, async () => {
      const prepared = selectionArgument(vscode.window.activeTextEditor);
      if ('problem' in prepared) {
        void vscode.window.showInformationMessage(prepared.problem);
        return;
      }
      if (!server.isRunning) {
        await server.explainProblem();
        return;
      }
      try {
        await vscode.commands.executeCommand(Commands.refactor, ...prepared.args);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        void vscode.window.showErrorMessage(`Gemma Review: refactoring failed: ${message}`);
      }
    }),
    vscode.workspace.onDidChangeConfiguration((event) => {
      // Other settings reach the running server through the client's configuration sync.
      if (LAUNCH_SETTINGS.some((name) => event.affectsConfiguration(`${SECTION}.${name}`))) {
        void server.restart();
      }
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => void server.restart()),
  );

  try {
    await server.start();
  } catch (error) {
    output.error(`Gemma Review could not start: ${error instanceof Error ? error.stack : String(error)}`);
  }
}

export async function deactivate(): Promise<void> {
  const server = controller;
  controller = undefined;
  await server?.dispose();
}
