import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  expandVariables,
  type LocateContext,
  locateServer,
  probePython,
  type PythonLookup,
} from '../../src/locate';
import type { LaunchSettings } from '../../src/settings';
import { program, REPO_ROOT, scratch } from './helpers';

function context(overrides: Partial<LocateContext> = {}): LocateContext {
  return { platform: 'linux', env: { PATH: '' }, homedir: '/home/u', ...overrides };
}

const NOTHING: LaunchSettings = { path: [], interpreter: undefined };

describe('locateServer', () => {
  it('runs the gemma-review.path executable with lsp', async () => {
    const exe = program(scratch(), 'bin/gemma-review');
    const found = await locateServer({ ...NOTHING, path: [exe] }, context());
    expect(found.server).toEqual({ command: exe, args: ['lsp'], source: 'path' });
    expect(found.rejected).toEqual([]);
  });

  it('takes a path array as a command with leading arguments, the command looked up on PATH', async () => {
    const bin = scratch();
    const uvx = program(bin, 'uvx');
    const found = await locateServer({ ...NOTHING, path: ['uvx', 'gemma-review'] }, context({ env: { PATH: bin } }));
    expect(found.server).toEqual({ command: uvx, args: ['gemma-review', 'lsp'], source: 'path' });
  });

  it('resolves a relative path against the workspace folder and expands ${workspaceFolder}', async () => {
    const folder = scratch();
    const exe = program(folder, '.venv/bin/gemma-review');
    for (const setting of ['.venv/bin/gemma-review', '${workspaceFolder}/.venv/bin/gemma-review']) {
      const found = await locateServer({ ...NOTHING, path: [setting] }, context({ workspaceFolder: folder }));
      expect(found.server?.command).toBe(exe);
    }
  });

  it.each([
    ['a missing file', (dir: string) => path.join(dir, 'nope'), 'does not exist or is not executable'],
    ['a file that is not executable', (dir: string) => program(dir, 'gemma-review', 0, 0o644), 'does not exist or is not executable'],
    ['a directory', (dir: string) => dir, 'does not exist or is not executable'],
    ['a name not on PATH', () => 'gemma-review-nowhere', 'gemma-review-nowhere is not on PATH'],
  ])('skips gemma-review.path set to %s and says why', async (_, make, reason) => {
    const dir = scratch();
    const fallback = program(scratch(), 'gemma-review');
    const found = await locateServer(
      { ...NOTHING, path: [make(dir)] },
      context({ env: { PATH: path.dirname(fallback) } }),
    );
    expect(found.server).toEqual({ command: fallback, args: ['lsp'], source: 'PATH' });
    expect(found.rejected).toHaveLength(1);
    expect(found.rejected[0]).toMatch(/^setting gemma-review\.path: /);
    expect(found.rejected[0]).toContain(reason);
  });

  it('runs python -m gemma_review lsp with the gemma-review.interpreter setting', async () => {
    const python = program(scratch(), 'python');
    const probed: string[][] = [];
    const found = await locateServer(
      { ...NOTHING, interpreter: python },
      context({ probePython: async (command) => (probed.push(command), { ok: true }) }),
    );
    expect(found.server).toEqual({ command: python, args: ['-m', 'gemma_review', 'lsp'], source: 'interpreter' });
    expect(probed).toEqual([[python]]);
  });

  it('uses the Python extension interpreter, keeping leading arguments of its command', async () => {
    const bin = scratch();
    const conda = program(bin, 'conda');
    const lookup: PythonLookup = { command: ['conda', 'run', '-n', 'dev', 'python'] };
    const found = await locateServer(
      NOTHING,
      context({ env: { PATH: bin }, pythonExtension: async () => lookup, probePython: async () => ({ ok: true }) }),
    );
    expect(found.server).toEqual({
      command: conda,
      args: ['run', '-n', 'dev', 'python', '-m', 'gemma_review', 'lsp'],
      source: 'python-extension',
    });
  });

  // Each row removes the winner of the row before: the order is path, interpreter, Python extension, PATH.
  it.each([
    [['path', 'interpreter', 'python-extension', 'PATH'], 'path'],
    [['interpreter', 'python-extension', 'PATH'], 'interpreter'],
    [['python-extension', 'PATH'], 'python-extension'],
    [['PATH'], 'PATH'],
  ])('with %j available the server comes from %s', async (available, expected) => {
    const dir = scratch();
    const exe = program(dir, 'custom/gemma-review');
    const bin = path.dirname(program(dir, 'bin/gemma-review'));
    const settings: LaunchSettings = {
      path: available.includes('path') ? [exe] : [],
      interpreter: available.includes('interpreter') ? program(dir, 'py/setting-python') : undefined,
    };
    const found = await locateServer(
      settings,
      context({
        env: { PATH: available.includes('PATH') ? bin : '' },
        pythonExtension: async () =>
          available.includes('python-extension') ? { command: [program(dir, 'py/ext-python')] } : { reason: 'not installed' },
        probePython: async () => ({ ok: true }),
      }),
    );
    expect(found.server?.source).toBe(expected);
  });

  it('falls through every step and reports each when nothing works', async () => {
    const dir = scratch();
    const python = program(dir, 'python3');
    const found = await locateServer(
      { path: [path.join(dir, 'missing')], interpreter: python },
      context({
        env: { PATH: path.join(dir, 'empty') },
        pythonExtension: async () => ({ reason: 'the Python extension is not installed' }),
        probePython: async () => ({ ok: false, reason: 'gemma_review is not installed in it' }),
      }),
    );
    expect(found.server).toBeUndefined();
    expect(found.rejected).toEqual([
      `setting gemma-review.path: ${path.join(dir, 'missing')} does not exist or is not executable`,
      `setting gemma-review.interpreter: ${python}: gemma_review is not installed in it`,
      "the Python extension's interpreter: the Python extension is not installed",
      'PATH: gemma-review is not on PATH',
    ]);
  });

  it('skips the Python extension when the context leaves it out (untrusted workspace)', async () => {
    const found = await locateServer(NOTHING, context());
    expect(found.rejected).toEqual(['PATH: gemma-review is not on PATH']);
  });
});

describe('expandVariables', () => {
  const ctx = { env: { TOOLS: '/opt/tools' }, homedir: '/home/u', workspaceFolder: '/src/app' };
  it.each([
    ['~/bin/gemma-review', '/home/u/bin/gemma-review'],
    ['~', '/home/u'],
    ['${userHome}/.local/bin/gemma-review', '/home/u/.local/bin/gemma-review'],
    ['${workspaceFolder}/.venv/bin/python', '/src/app/.venv/bin/python'],
    ['${env:TOOLS}/gemma-review', '/opt/tools/gemma-review'],
    ['${env:UNSET}/gemma-review', '/gemma-review'],
    ['/usr/bin/~user', '/usr/bin/~user'],
  ])('%s -> %s', (value, expected) => {
    expect(expandVariables(value, ctx)).toEqual({ value: expected });
  });

  it('says so when ${workspaceFolder} is used without a folder', () => {
    expect(expandVariables('${workspaceFolder}/x', { ...ctx, workspaceFolder: undefined }).reason).toContain(
      'no folder is open',
    );
  });
});

describe('probePython (real processes)', () => {
  it('finds gemma_review through PYTHONPATH and reports it missing otherwise', async () => {
    const saved = process.env.PYTHONPATH;
    try {
      process.env.PYTHONPATH = REPO_ROOT;
      expect(await probePython(['python3'])).toEqual({ ok: true });
      // -I -S: no PYTHONPATH, no site-packages, so gemma_review cannot be found.
      expect(await probePython(['python3', '-I', '-S'])).toEqual({
        ok: false,
        reason: 'gemma_review is not installed in it',
      });
    } finally {
      if (saved === undefined) {
        delete process.env.PYTHONPATH;
      } else {
        process.env.PYTHONPATH = saved;
      }
    }
  });

  it('reports a program that cannot run and one that fails', async () => {
    expect(await probePython([path.join(os.tmpdir(), 'no-such-python')])).toEqual({
      ok: false,
      reason: 'cannot run it (ENOENT)',
    });
    const failing = program(scratch(), 'python', 1);
    expect(await probePython([failing])).toEqual({ ok: false, reason: 'it failed (exit code 1)' });
  });
});
