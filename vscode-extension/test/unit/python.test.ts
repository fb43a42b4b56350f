import { beforeEach, describe, expect, it } from 'vitest';
import { Uri } from 'vscode';
import { activeInterpreter, onInterpreterChange, type PythonExtensionApi } from '../../src/python';
import { __stub, EventEmitter } from '../stub/vscode';

/** An installed ms-python.python whose API is `api`, activated on first use. */
function installPython(api: PythonExtensionApi | (() => never)) {
  const extension = {
    isActive: false,
    activations: 0,
    exports: undefined as PythonExtensionApi | undefined,
    async activate() {
      extension.activations += 1;
      extension.exports = typeof api === 'function' ? api() : api;
      extension.isActive = true;
      return extension.exports;
    },
  };
  __stub.addExtension('ms-python.python', extension);
  return extension;
}

beforeEach(() => __stub.reset());

describe('activeInterpreter', () => {
  it('says when the Python extension is not installed', async () => {
    expect(await activeInterpreter()).toEqual({ reason: 'the Python extension is not installed' });
  });

  it('activates the extension and resolves the active environment for the folder', async () => {
    const folder = Uri.file('/src/app');
    const asked: unknown[] = [];
    const extension = installPython({
      environments: {
        getActiveEnvironmentPath: (resource) => (asked.push(resource), { id: 'venv', path: '/src/app/.venv' }),
        resolveEnvironment: async (env) =>
          typeof env !== 'string' && env.path === '/src/app/.venv'
            ? { executable: { uri: Uri.file('/src/app/.venv/bin/python') } }
            : undefined,
      },
    });
    expect(await activeInterpreter(folder)).toEqual({ command: ['/src/app/.venv/bin/python'] });
    expect(extension.activations).toBe(1);
    expect(asked).toEqual([folder]);
    await activeInterpreter(folder);
    expect(extension.activations).toBe(1);
  });

  it('explains an environment that cannot be resolved', async () => {
    installPython({
      environments: {
        getActiveEnvironmentPath: () => ({ id: 'gone', path: '/old/venv' }),
        resolveEnvironment: async () => undefined,
      },
    });
    expect(await activeInterpreter()).toEqual({ reason: 'cannot resolve the selected environment /old/venv' });
  });

  it('falls back to the older getExecutionDetails API', async () => {
    installPython({ settings: { getExecutionDetails: () => ({ execCommand: ['/usr/bin/python3.12'] }) } });
    expect(await activeInterpreter()).toEqual({ command: ['/usr/bin/python3.12'] });
  });

  it.each([
    ['no interpreter selected', { settings: { getExecutionDetails: () => ({ execCommand: undefined }) } }, 'no interpreter is selected'],
    ['an API without interpreters', {}, 'this version of the Python extension has no interpreter API'],
  ])('explains %s', async (_, api, reason) => {
    installPython(api as PythonExtensionApi);
    expect(await activeInterpreter()).toEqual({ reason });
  });

  it('explains an extension that fails to activate', async () => {
    installPython(() => {
      throw new Error('boom');
    });
    expect(await activeInterpreter()).toEqual({ reason: 'the Python extension did not activate: boom' });
  });
});

describe('onInterpreterChange', () => {
  it('listens to the active environment changing', async () => {
    const changed = new EventEmitter<unknown>();
    installPython({
      environments: {
        getActiveEnvironmentPath: () => ({ id: 'a', path: '/a' }),
        resolveEnvironment: async () => undefined,
        onDidChangeActiveEnvironmentPath: changed.event,
      },
    });
    let calls = 0;
    const listener = await onInterpreterChange(() => (calls += 1));
    changed.fire({});
    expect(calls).toBe(1);
    listener?.dispose();
    changed.fire({});
    expect(calls).toBe(1);
  });

  it('returns nothing without the Python extension', async () => {
    expect(await onInterpreterChange(() => undefined)).toBeUndefined();
  });
});
