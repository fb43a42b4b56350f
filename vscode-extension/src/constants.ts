/** Names shared by the extension, its manifest and the language server's contract. */

export const SECTION = 'gemma-review';
export const CLIENT_ID = 'gemma-review';
export const OUTPUT_CHANNEL_NAME = 'Gemma Review';
export const STATUS_NOTIFICATION = 'gemma-review/status';
export const PYTHON_EXTENSION_ID = 'ms-python.python';
export const EXECUTABLE_NAME = 'gemma-review';
export const PYTHON_MODULE = 'gemma_review';

/** Languages the server reviews; also the manifest's activation events. */
export const LANGUAGES = [
  'python',
  'javascript',
  'javascriptreact',
  'typescript',
  'typescriptreact',
  'go',
  'rust',
] as const;

export const Commands = {
  /** Advertised by the server; vscode-languageclient registers the handlers. */
  reviewFile: 'gemma-review.reviewFile',
  reviewChanges: 'gemma-review.reviewChanges',
  refactor: 'gemma-review.refactor',
  /** "Dismiss for the team…": the extension asks for the reason before the server records it. */
  dismiss: 'gemma-review.dismiss',
  /** Registered by this extension. */
  refactorSelection: 'gemma-review.refactorSelection',
  restartServer: 'gemma-review.restartServer',
  showOutput: 'gemma-review.showOutput',
  /** Review the active file again now (the model-unavailable notice's action). */
  retry: 'gemma-review.retry',
} as const;

/** Client capability telling the server that this extension shows "model unavailable" itself. */
export const MODEL_NOTICE_CAPABILITY = 'gemmaReviewModelNotice';

/** Server commands a user runs from the palette (they take the active file). */
export const PALETTE_SERVER_COMMANDS = [Commands.reviewFile, Commands.reviewChanges] as const;

/**
 * Settings of the extension itself (how to launch the server, protocol tracing).
 * They are never sent to the server, which would reject them as unknown.
 */
export const EXTENSION_ONLY_SETTINGS = ['path', 'interpreter', 'trace.server'] as const;
export const LAUNCH_SETTINGS = ['path', 'interpreter'] as const;
