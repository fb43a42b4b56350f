import { chmodSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach } from 'vitest';

export const EXTENSION_ROOT = path.resolve(__dirname, '../..');
export const REPO_ROOT = path.resolve(EXTENSION_ROOT, '..');

const made: string[] = [];

afterEach(() => {
  for (const dir of made.splice(0)) {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A scratch folder removed after the test. */
export function scratch(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gemma-review-ext-'));
  made.push(dir);
  return dir;
}

/** A shell script at dir/name exiting with `exitCode` (a stand-in program or Python). */
export function program(dir: string, name: string, exitCode = 0, mode = 0o755): string {
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `#!/bin/sh\nexit ${exitCode}\n`);
  chmodSync(file, mode);
  return file;
}

/** Let queued promise callbacks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i += 1) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Wait until `condition` holds (work that runs a real process takes a few milliseconds). */
export async function until(condition: () => boolean, what = 'the condition'): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited > 5000) {
      throw new Error(`gave up waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await settle();
}
