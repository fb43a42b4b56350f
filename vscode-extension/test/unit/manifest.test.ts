/**
 * The manifest against the server: every contributed server setting must be a field of the
 * `Settings` dataclass in gemma_review/config.py (camelCase -> snake_case), with the same
 * type, default and allowed values; and the manifest must declare what the extension does.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import manifest from '../../package.json';
import { Commands, EXTENSION_ONLY_SETTINGS, LANGUAGES } from '../../src/constants';
import { REPO_ROOT } from './helpers';

const CONFIG_PY = path.join(REPO_ROOT, 'gemma_review', 'config.py');
const source = readFileSync(CONFIG_PY, 'utf8');

type Property = {
  type: string | string[];
  default?: unknown;
  enum?: string[];
  items?: { type: string; enum?: string[] };
  scope?: string;
};
const properties = manifest.contributes.configuration.properties as Record<string, Property>;

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Module-level constants: `NAME = "text"` and `NAME = ("a", "b")`. */
function constants(): Map<string, unknown> {
  const found = new Map<string, unknown>();
  for (const [, name, value] of source.matchAll(/^([A-Z][A-Z0-9_]*) = (.+)$/gm)) {
    if (/^"[^"]*"$/.test(value)) {
      found.set(name, JSON.parse(value));
    } else if (/^\(("[^"]*",?\s*)+\)$/.test(value)) {
      found.set(name, [...value.matchAll(/"([^"]*)"/g)].map((m) => m[1]));
    }
  }
  return found;
}

interface Field {
  type: string;
  default: string;
}

/** The fields of `class Settings` as written: `name: type = default  # comment`. */
function settingsFields(): Map<string, Field> {
  const body = /^class Settings\b[^\n]*\n([\s\S]*?)(?=^\S|^ {4}(?:@|def ))/m.exec(source);
  if (!body) {
    throw new Error(`no class Settings in ${CONFIG_PY}`);
  }
  const fields = new Map<string, Field>();
  for (const [, name, type, value] of body[1].matchAll(/^ {4}([a-z_][a-z0-9_]*): ([^=\n]+?) = (.+?)(?:\s+#.*)?$/gm)) {
    // Not a setting at all, or one kept to configuration files: not contributed to the editor.
    if (/metadata=\{[^}]*"(setting|editor)": False/.test(value)) continue;
    fields.set(name, { type: type.trim(), default: value.trim() });
  }
  return fields;
}

function pythonDefault(expression: string, known: Map<string, unknown>): unknown {
  if (/^".*"$/.test(expression)) return JSON.parse(expression);
  if (/^-?\d+(\.\d+)?$/.test(expression)) return Number(expression);
  if (expression === 'True' || expression === 'False') return expression === 'True';
  if (expression === 'None') return null;
  if (known.has(expression)) return known.get(expression);
  if (expression === 'field(default_factory=list)') return [];
  const copied = /^field\(default_factory=lambda: list\(([A-Z_]+)\)\)$/.exec(expression);
  if (copied && known.has(copied[1])) return known.get(copied[1]);
  throw new Error(`teach this test to read the default ${expression}`);
}

const JSON_TYPES: Record<string, unknown> = {
  str: 'string',
  'str | None': ['string', 'null'],
  bool: 'boolean',
  int: 'integer',
  float: 'number',
  'list[str]': 'array',
};

/** Which tuple of allowed values each field is checked against in config.py's _validate. */
function choices(known: Map<string, unknown>): Map<string, unknown> {
  const found = new Map<string, unknown>();
  for (const [, field, constant] of source.matchAll(/choice\("([a-z_]+)", ([A-Z_]+)\)/g)) {
    found.set(field, known.get(constant));
  }
  return found;
}

const fields = settingsFields();
const known = constants();
const EXTENSION_ONLY = new Set<string>(EXTENSION_ONLY_SETTINGS);
const serverProperties = Object.entries(properties)
  .map(([key, property]) => [key.replace(/^gemma-review\./, ''), property] as const)
  .filter(([name]) => !EXTENSION_ONLY.has(name));

describe('settings agree with gemma_review/config.py', () => {
  it('reads the Settings dataclass', () => {
    expect(fields.size).toBeGreaterThan(10);
    expect(fields.get('model')).toEqual({ type: 'str', default: 'DEFAULT_MODEL' });
  });

  it('contributes only gemma-review.* settings', () => {
    expect(Object.keys(properties).filter((key) => !key.startsWith('gemma-review.'))).toEqual([]);
  });

  it.each(serverProperties)('gemma-review.%s is a server setting of the same type and default', (name, property) => {
    const field = fields.get(snake(name));
    expect(field, `gemma-review.${name} -> ${snake(name)} is not a field of Settings in config.py`).toBeDefined();
    if (!field) return;
    expect(property.type).toEqual(JSON_TYPES[field.type]);
    if (field.type === 'list[str]') {
      expect(property.items?.type).toBe('string');
    }
    expect(property.default).toEqual(pythonDefault(field.default, known));
  });

  it('contributes every server setting', () => {
    const contributed = new Set(serverProperties.map(([name]) => snake(name)));
    expect([...fields.keys()].filter((field) => !contributed.has(field))).toEqual([]);
  });

  it('offers exactly the values the server accepts', () => {
    const allowed = choices(known);
    expect(allowed.size).toBeGreaterThanOrEqual(5);
    for (const [field, values] of allowed) {
      const name = field.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
      expect(properties[`gemma-review.${name}`].enum, name).toEqual(values);
    }
    expect(properties['gemma-review.categories'].items?.enum).toEqual(known.get('CATEGORIES'));
  });
});

describe('manifest', () => {
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
