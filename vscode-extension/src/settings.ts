import * as vscode from 'vscode';
import manifest from '../package.json';
import { EXTENSION_ONLY_SETTINGS, SECTION } from './constants';

const EXTENSION_ONLY: ReadonlySet<string> = new Set(EXTENSION_ONLY_SETTINGS);

/** camelCase names of the server's settings, read from the manifest (one source of truth). */
export const SERVER_SETTING_NAMES: readonly string[] = Object.keys(
  manifest.contributes.configuration.properties,
)
  .filter((key) => key.startsWith(`${SECTION}.`))
  .map((key) => key.slice(SECTION.length + 1))
  .filter((name) => !EXTENSION_ONLY.has(name));

/**
 * The flat object of server settings the user has set, camelCase keys.
 *
 * Settings left at their default are not sent: the server then uses the repository's
 * `.gemma-review.toml` / `[tool.gemma-review]`, which an editor default must not override.
 */
export function serverSettings(scope?: vscode.ConfigurationScope): Record<string, unknown> {
  const config = vscode.workspace.getConfiguration(SECTION, scope);
  const values: Record<string, unknown> = {};
  for (const name of SERVER_SETTING_NAMES) {
    const found = config.inspect(name);
    const isSet =
      found !== undefined &&
      [found.globalValue, found.workspaceValue, found.workspaceFolderValue].some(
        (value) => value !== undefined,
      );
    if (isSet) {
      values[name] = config.get(name);
    }
  }
  return values;
}

/** How the user asked for the server to be launched. */
export interface LaunchSettings {
  /** `gemma-review.path`: the executable, optionally followed by leading arguments. */
  path: string[];
  /** `gemma-review.interpreter`: a Python that has gemma-review installed. */
  interpreter: string | undefined;
}

/**
 * Read the launch settings. In an untrusted workspace only the user's own values count:
 * a workspace must not choose which program runs (the manifest also lists these settings
 * under `restrictedConfigurations`, so VS Code ignores workspace values itself).
 */
export function readLaunchSettings(trusted: boolean): LaunchSettings {
  const config = vscode.workspace.getConfiguration(SECTION);
  const pick = (name: string): unknown =>
    trusted ? config.get(name) : config.inspect(name)?.globalValue;
  const interpreter = pick('interpreter');
  return {
    path: normalizePathSetting(pick('path')),
    interpreter:
      typeof interpreter === 'string' && interpreter.trim() !== '' ? interpreter.trim() : undefined,
  };
}

/** `gemma-review.path` is a string or an array of strings; blank entries mean "not set". */
export function normalizePathSetting(value: unknown): string[] {
  if (typeof value === 'string') {
    return value.trim() === '' ? [] : [value.trim()];
  }
  if (Array.isArray(value) && value.every((part) => typeof part === 'string')) {
    const parts = (value as string[]).map((part) => part.trim());
    return parts[0] ? parts.filter((part) => part !== '') : [];
  }
  return [];
}
