import { execFile } from 'node:child_process';
import { constants as fsConstants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { EXECUTABLE_NAME, PYTHON_MODULE } from './constants';
import type { LaunchSettings } from './settings';

/** Where the server command came from, in the order they are tried. */
export type ServerSource = 'path' | 'interpreter' | 'python-extension' | 'PATH';

export interface ServerLaunch {
  command: string;
  /** Arguments after the command, ending with `lsp`. */
  args: string[];
  source: ServerSource;
}

export interface Located {
  server?: ServerLaunch;
  /** One line per candidate that was tried and rejected, saying why. */
  rejected: string[];
}

/** The Python extension's answer: a command that runs Python, or why there is none. */
export interface PythonLookup {
  command?: string[];
  reason?: string;
}

export interface ProbeResult {
  ok: boolean;
  reason?: string;
}

export interface LocateContext {
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  homedir: string;
  /** First workspace folder: relative paths and `${workspaceFolder}` resolve against it. */
  workspaceFolder?: string;
  /** The Python extension's active interpreter; absent when it must not be used. */
  pythonExtension?: () => Promise<PythonLookup>;
  /** Whether a Python command can import gemma_review. */
  probePython?: (command: string[]) => Promise<ProbeResult>;
}

export const SOURCE_LABELS: Record<ServerSource, string> = {
  path: 'setting gemma-review.path',
  interpreter: 'setting gemma-review.interpreter',
  'python-extension': "the Python extension's interpreter",
  PATH: 'PATH',
};

/**
 * Find the command that starts `gemma-review lsp`: the `gemma-review.path` setting, the
 * `gemma-review.interpreter` setting, the Python extension's active interpreter, then
 * `gemma-review` on PATH. The first that works wins; the others say why they did not.
 */
export async function locateServer(settings: LaunchSettings, ctx: LocateContext): Promise<Located> {
  const rejected: string[] = [];
  const probe = ctx.probePython ?? probePython;

  if (settings.path.length > 0) {
    const [executable, ...leading] = settings.path;
    const found = await resolveExecutable(executable, ctx);
    if (found.file) {
      return { server: { command: found.file, args: [...leading, 'lsp'], source: 'path' }, rejected };
    }
    rejected.push(`${SOURCE_LABELS.path}: ${found.reason}`);
  }

  const fromPython = async (command: string[], source: ServerSource): Promise<ServerLaunch | undefined> => {
    const [program, ...leading] = command;
    const found = await resolveExecutable(program, ctx);
    if (!found.file) {
      rejected.push(`${SOURCE_LABELS[source]}: ${found.reason}`);
      return undefined;
    }
    const result = await probe([found.file, ...leading]);
    if (!result.ok) {
      rejected.push(`${SOURCE_LABELS[source]}: ${found.file}: ${result.reason}`);
      return undefined;
    }
    return { command: found.file, args: [...leading, '-m', PYTHON_MODULE, 'lsp'], source };
  };

  if (settings.interpreter) {
    const server = await fromPython([settings.interpreter], 'interpreter');
    if (server) {
      return { server, rejected };
    }
  }

  if (ctx.pythonExtension) {
    const lookup = await ctx.pythonExtension();
    if (lookup.command && lookup.command.length > 0) {
      const server = await fromPython(lookup.command, 'python-extension');
      if (server) {
        return { server, rejected };
      }
    } else {
      rejected.push(`${SOURCE_LABELS['python-extension']}: ${lookup.reason ?? 'none is selected'}`);
    }
  }

  const found = await resolveExecutable(EXECUTABLE_NAME, ctx);
  if (found.file) {
    return { server: { command: found.file, args: ['lsp'], source: 'PATH' }, rejected };
  }
  rejected.push(`${SOURCE_LABELS.PATH}: ${found.reason}`);
  return { rejected };
}

/** Expand `~`, `${userHome}`, `${workspaceFolder}` and `${env:NAME}` as VS Code users expect. */
export function expandVariables(
  value: string,
  ctx: Pick<LocateContext, 'env' | 'homedir' | 'workspaceFolder'>,
): { value?: string; reason?: string } {
  if (value.includes('${workspaceFolder}') && !ctx.workspaceFolder) {
    return { reason: `${value} uses \${workspaceFolder} but no folder is open` };
  }
  let expanded = value
    .replace(/\$\{userHome\}/g, ctx.homedir)
    .replace(/\$\{workspaceFolder\}/g, ctx.workspaceFolder ?? '')
    .replace(/\$\{env:([^}]+)\}/g, (_, name: string) => ctx.env[name] ?? '');
  if (expanded === '~' || expanded.startsWith('~/') || expanded.startsWith('~\\')) {
    expanded = ctx.homedir + expanded.slice(1);
  }
  return { value: expanded };
}

/**
 * A program name is looked up on PATH; anything with a directory part is a file path,
 * relative ones taken from the workspace folder.
 */
export async function resolveExecutable(
  program: string,
  ctx: LocateContext,
): Promise<{ file?: string; reason?: string }> {
  const expanded = expandVariables(program, ctx);
  if (expanded.value === undefined) {
    return { reason: expanded.reason };
  }
  const name = expanded.value;
  const paths = ctx.platform === 'win32' ? path.win32 : path.posix;
  const hasDirectory = name.includes('/') || (ctx.platform === 'win32' && name.includes('\\'));
  if (hasDirectory || paths.isAbsolute(name)) {
    const file = paths.resolve(ctx.workspaceFolder ?? process.cwd(), name);
    for (const candidate of withWindowsExtensions(file, ctx)) {
      if (await isExecutableFile(candidate, ctx.platform)) {
        return { file: candidate };
      }
    }
    return { reason: `${file} does not exist or is not executable` };
  }
  const found = await which(name, ctx);
  return found ? { file: found } : { reason: `${name} is not on PATH` };
}

export async function which(name: string, ctx: LocateContext): Promise<string | undefined> {
  const paths = ctx.platform === 'win32' ? path.win32 : path.posix;
  const searchPath = ctx.env.PATH ?? ctx.env.Path ?? '';
  for (const dir of searchPath.split(paths.delimiter)) {
    if (dir === '') {
      continue;
    }
    for (const candidate of withWindowsExtensions(paths.join(dir, name), ctx)) {
      if (await isExecutableFile(candidate, ctx.platform)) {
        return candidate;
      }
    }
  }
  return undefined;
}

function withWindowsExtensions(file: string, ctx: LocateContext): string[] {
  if (ctx.platform !== 'win32') {
    return [file];
  }
  const extensions = (ctx.env.PATHEXT ?? '.COM;.EXE;.BAT;.CMD').split(';').filter(Boolean);
  const hasExtension = extensions.some((ext) => file.toLowerCase().endsWith(ext.toLowerCase()));
  return hasExtension ? [file] : [file, ...extensions.map((ext) => file + ext)];
}

async function isExecutableFile(file: string, platform: NodeJS.Platform): Promise<boolean> {
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) {
      return false;
    }
    if (platform !== 'win32') {
      await fs.access(file, fsConstants.X_OK);
    }
    return true;
  } catch {
    return false;
  }
}

const NOT_INSTALLED = 3;
const PROBE_SCRIPT = `import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('${PYTHON_MODULE}') else ${NOT_INSTALLED})`;
const PROBE_TIMEOUT_MS = 20_000;

/** Ask a Python whether it can import gemma_review, without importing it. */
export function probePython(command: string[]): Promise<ProbeResult> {
  const [program, ...leading] = command;
  return new Promise((resolve) => {
    execFile(
      program,
      [...leading, '-c', PROBE_SCRIPT],
      { timeout: PROBE_TIMEOUT_MS, windowsHide: true },
      (error, _stdout, stderr) => {
        if (!error) {
          resolve({ ok: true });
        } else if (error.killed) {
          resolve({ ok: false, reason: `it did not answer within ${PROBE_TIMEOUT_MS / 1000} s` });
        } else if (error.code === NOT_INSTALLED) {
          resolve({ ok: false, reason: `${PYTHON_MODULE} is not installed in it` });
        } else if (typeof error.code === 'string') {
          resolve({ ok: false, reason: `cannot run it (${error.code})` });
        } else {
          const detail = String(stderr).trim().split('\n').pop() ?? '';
          resolve({ ok: false, reason: `it failed (exit code ${error.code})${detail ? `: ${detail}` : ''}` });
        }
      },
    );
  });
}
