import * as vscode from 'vscode';
import { PYTHON_EXTENSION_ID } from './constants';
import type { PythonLookup } from './locate';

/** The parts of the Python extension's API (ms-python.python) this extension uses. */
export interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { id: string; path: string };
    resolveEnvironment(
      environment: { id: string; path: string } | string,
    ): Promise<{ executable?: { uri?: vscode.Uri } } | undefined>;
    onDidChangeActiveEnvironmentPath?: vscode.Event<unknown>;
  };
  /** The older API, still offered by current releases. */
  settings?: {
    getExecutionDetails?(resource?: vscode.Uri): { execCommand: string[] | undefined };
    onDidChangeExecutionDetails?: vscode.Event<unknown>;
  };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function pythonApi(): Promise<{ api?: PythonExtensionApi; reason?: string }> {
  const extension = vscode.extensions.getExtension<PythonExtensionApi>(PYTHON_EXTENSION_ID);
  if (!extension) {
    return { reason: 'the Python extension is not installed' };
  }
  try {
    const api = extension.isActive ? extension.exports : await extension.activate();
    return api ? { api } : { reason: 'the Python extension offers no API' };
  } catch (error) {
    return { reason: `the Python extension did not activate: ${message(error)}` };
  }
}

/** The command that runs the Python the user selected in the Python extension. */
export async function activeInterpreter(resource?: vscode.Uri): Promise<PythonLookup> {
  const { api, reason } = await pythonApi();
  if (!api) {
    return { reason };
  }
  try {
    const environments = api.environments;
    if (environments?.getActiveEnvironmentPath && environments.resolveEnvironment) {
      const active = environments.getActiveEnvironmentPath(resource);
      const resolved = await environments.resolveEnvironment(active);
      const executable = resolved?.executable?.uri?.fsPath;
      return executable
        ? { command: [executable] }
        : { reason: `cannot resolve the selected environment ${active.path}` };
    }
    if (api.settings?.getExecutionDetails) {
      const command = api.settings.getExecutionDetails(resource).execCommand;
      return command && command.length > 0 ? { command } : { reason: 'no interpreter is selected' };
    }
  } catch (error) {
    return { reason: `cannot ask the Python extension: ${message(error)}` };
  }
  return { reason: 'this version of the Python extension has no interpreter API' };
}

/** Call `listener` when the user selects another interpreter; undefined if not possible. */
export async function onInterpreterChange(
  listener: () => void,
): Promise<vscode.Disposable | undefined> {
  const { api } = await pythonApi();
  const event =
    api?.environments?.onDidChangeActiveEnvironmentPath ?? api?.settings?.onDidChangeExecutionDetails;
  return event ? event(() => listener()) : undefined;
}
