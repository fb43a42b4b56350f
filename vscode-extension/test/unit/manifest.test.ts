/**
 * The manifest: what the extension declares. That every contributed server setting matches
 * its declaration in gemma_review/config.py (key set, type, default, allowed values) is
 * checked from Python, against package.json read as JSON: tests/test_settings_declaration.py.
 */
import { describe, expect, it } from 'vitest';
import manifest from '../../package.json';
import { Commands, LANGUAGES } from '../../src/constants';

type Property = {
  type: string | string[];
  default?: unknown;
  enum?: string[];
  items?: { type: string; enum?: string[] };
  scope?: string;
};
const properties = manifest.contributes.configuration.properties as Record<string, Property>;

describe('manifest', () => {
  it('contributes only gemma-review.* settings', () => {
    expect(Object.keys(properties).filter((key) => !key.startsWith('gemma-review.'))).toEqual([]);
  });

  it('keeps paths and hosts on the machine and launch settings out of untrusted workspaces', () => {
    for (const name of ['path', 'interpreter', 'host', 'modelFile', 'allowRemote', 'apiKeyEnv', 'cacheDir']) {
      expect(properties[`gemma-review.${name}`].scope, name).toBe('machine');
    }
    expect(manifest.capabilities.untrustedWorkspaces).toMatchObject({
      supported: 'limited',
      restrictedConfigurations: ['gemma-review.path', 'gemma-review.interpreter'],
    });
  });

  it('gives every setting a scope and a description', () => {
    for (const [key, property] of Object.entries(properties)) {
      expect(property.scope, key).toBeDefined();
      expect((property as { markdownDescription?: string }).markdownDescription, key).toBeTruthy();
    }
  });

  it('activates for each reviewed language', () => {
    for (const language of LANGUAGES) {
      expect(manifest.activationEvents).toContain(`onLanguage:${language}`);
    }
  });

  it('contributes the palette commands, leaving gemma-review.refactor to the server', () => {
    expect(manifest.contributes.commands.map((c) => c.command)).toEqual([
      Commands.reviewFile,
      Commands.reviewChanges,
      Commands.refactorSelection,
      Commands.restartServer,
      Commands.showOutput,
    ]);
    expect(manifest.contributes.commands.map((c) => c.title)).toEqual([
      'Review File',
      'Review Changes',
      'Refactor Selection with Gemma',
      'Restart Server',
      'Show Output',
    ]);
  });

  it('runs the bundle on VS Code 1.85 and types against no newer API', () => {
    expect(manifest.main).toBe('./dist/extension.js');
    expect(manifest.engines.vscode).toBe('^1.85.0');
    expect(manifest.devDependencies['@types/vscode']).toBe('1.85.0');
  });
});
