import * as path from 'node:path';
import { defineConfig } from 'vitest/config';

// VS Code is not available here: `vscode` resolves to a stub, and the language client to a
// fake that behaves like vscode-languageclient 9 towards the extension (commands, state, sync).
export default defineConfig({
  resolve: {
    alias: [
      { find: /^vscode$/, replacement: path.resolve(__dirname, 'test/stub/vscode.ts') },
      {
        find: /^vscode-languageclient\/node$/,
        replacement: path.resolve(__dirname, 'test/stub/languageclient.ts'),
      },
    ],
  },
  test: {
    include: ['test/unit/**/*.test.ts'],
    environment: 'node',
    testTimeout: 10_000,
  },
});
