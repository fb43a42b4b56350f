import { beforeEach, describe, expect, it } from 'vitest';
import { Uri } from 'vscode';
import { normalizePathSetting, readLaunchSettings, SERVER_SETTING_NAMES, serverSettings } from '../../src/settings';
import { __stub } from '../stub/vscode';

beforeEach(() => __stub.reset());

describe('SERVER_SETTING_NAMES', () => {
  it('holds the server settings of the manifest and none of the extension-only ones', () => {
    expect(SERVER_SETTING_NAMES).toEqual(expect.arrayContaining(['model', 'host', 'backend', 'failOn', 'minConfidence', 'categories', 'scope', 'trigger']));
    for (const name of ['path', 'interpreter', 'trace.server', 'trace']) {
      expect(SERVER_SETTING_NAMES).not.toContain(name);
    }
  });
});

describe('serverSettings', () => {
  it('sends nothing while every setting is at its default, so the project config file applies', () => {
    expect(serverSettings()).toEqual({});
  });

  it('sends the settings the user set, camelCase, without the extension-only ones', () => {
    __stub.setSetting('gemma-review.model', 'gemma4:e2b');
    __stub.setSetting('gemma-review.minConfidence', 0.8, 'workspace');
    __stub.setSetting('gemma-review.categories', ['bug', 'security']);
    __stub.setSetting('gemma-review.modelFile', null);
    __stub.setSetting('gemma-review.path', ['/opt/gemma-review']);
    __stub.setSetting('gemma-review.interpreter', '/usr/bin/python3');
    __stub.setSetting('gemma-review.trace.server', 'verbose');
    expect(serverSettings()).toEqual({
      model: 'gemma4:e2b',
      minConfidence: 0.8,
      categories: ['bug', 'security'],
      modelFile: null,
    });
  });

  it('gives a folder its own values when scoped to it', () => {
    __stub.setFolders('/src/a', '/src/b');
    __stub.setSetting('gemma-review.trigger', 'manual', 'workspace');
    __stub.setSetting('gemma-review.trigger', 'type', Uri.file('/src/b'));
    expect(serverSettings(Uri.file('/src/a'))).toEqual({ trigger: 'manual' });
    expect(serverSettings(Uri.file('/src/b/main.go'))).toEqual({ trigger: 'type' });
  });
});

describe('readLaunchSettings', () => {
  it('reads path and interpreter, workspace values winning when trusted', () => {
    __stub.setSetting('gemma-review.path', '/user/gemma-review');
    __stub.setSetting('gemma-review.path', ['/workspace/gemma-review'], 'workspace');
    __stub.setSetting('gemma-review.interpreter', '  /usr/bin/python3 ');
    expect(readLaunchSettings(true)).toEqual({ path: ['/workspace/gemma-review'], interpreter: '/usr/bin/python3' });
  });

  it('ignores workspace values in an untrusted workspace', () => {
    __stub.setSetting('gemma-review.path', ['/workspace/evil'], 'workspace');
    __stub.setSetting('gemma-review.interpreter', '/workspace/python', 'workspace');
    expect(readLaunchSettings(false)).toEqual({ path: [], interpreter: undefined });
    __stub.setSetting('gemma-review.path', '/user/gemma-review');
    expect(readLaunchSettings(false).path).toEqual(['/user/gemma-review']);
  });
});

describe('normalizePathSetting', () => {
  it.each([
    [undefined, []],
    ['', []],
    ['  ', []],
    ['/bin/gemma-review', ['/bin/gemma-review']],
    [[], []],
    [[''], []],
    [['uvx', 'gemma-review'], ['uvx', 'gemma-review']],
    [['uvx', '', 'gemma-review'], ['uvx', 'gemma-review']],
    [[42], []],
    [{ path: 'x' }, []],
  ])('%j -> %j', (value, expected) => {
    expect(normalizePathSetting(value)).toEqual(expected);
  });
});
