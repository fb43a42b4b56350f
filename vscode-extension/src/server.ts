import * as vscode from 'vscode';
import { type LanguageClient, State } from 'vscode-languageclient/node';
import { createLanguageClient } from './client';
import { PALETTE_SERVER_COMMANDS, STATUS_NOTIFICATION } from './constants';
import { type Located, type ServerLaunch, type ServerSource, SOURCE_LABELS } from './locate';
import type { ModelNotice } from './notice';
import { parseServerStatus, type StatusBar } from './status';

export const INSTALL_INSTRUCTIONS = 'Install Instructions';
export const SHOW_OUTPUT = 'Show Output';
export const RESTART_SERVER = 'Restart Server';

/** Why no server is running, as told to the user. */
type Problem = { kind: 'notFound' } | { kind: 'failed'; message: string } | { kind: 'stopped' };

export interface ControllerOptions {
  output: vscode.LogOutputChannel;
  status: StatusBar;
  /** The closable "model unavailable" notification; optional for callers that do not show one. */
  notice?: ModelNotice;
  locate: () => Promise<Located>;
  /** Opens the install instructions (the README's Requirements). */
  openInstallInstructions: () => Promise<void>;
}

function describe(launch: ServerLaunch): string {
  return [launch.command, ...launch.args].map((part) => (/\s/.test(part) ? `"${part}"` : part)).join(' ');
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Owns the language client: finds the server, starts, stops and restarts it, and keeps the
 * palette's review commands answering (with the reason) while no server is running.
 */
export class ServerController implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private launch: ServerLaunch | undefined;
  private clientListeners: vscode.Disposable[] = [];
  private fallbacks: vscode.Disposable[] = [];
  private problem: Problem | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly options: ControllerOptions) {}

  /** Where the running server was found; undefined when none runs. */
  get source(): ServerSource | undefined {
    return this.launch?.source;
  }

  get isRunning(): boolean {
    return this.client?.state === State.Running;
  }

  start(): Promise<void> {
    return this.enqueue(() => this.doStart());
  }

  stop(): Promise<void> {
    return this.enqueue(() => this.doStop());
  }

  /** Stop, find the server again (its settings may have changed) and start it. */
  restart(): Promise<void> {
    return this.enqueue(async () => {
      await this.doStop();
      await this.doStart();
    });
  }

  /** Tell the user why no server runs, with the button that helps. */
  async explainProblem(): Promise<void> {
    const problem = this.problem ?? { kind: 'stopped' };
    if (problem.kind === 'notFound') {
      const choice = await vscode.window.showWarningMessage(
        'Gemma Review: gemma-review was not found. Install it (pip install gemma-review), or set gemma-review.path or gemma-review.interpreter.',
        INSTALL_INSTRUCTIONS,
        SHOW_OUTPUT,
      );
      if (choice === INSTALL_INSTRUCTIONS) {
        await this.options.openInstallInstructions();
      } else if (choice === SHOW_OUTPUT) {
        this.options.output.show(true);
      }
      return;
    }
    const text =
      problem.kind === 'failed'
        ? `Gemma Review: the language server did not start: ${problem.message}`
        : 'Gemma Review: the language server is not running.';
    const choice = await vscode.window.showErrorMessage(text, RESTART_SERVER, SHOW_OUTPUT);
    if (choice === RESTART_SERVER) {
      await this.restart();
    } else if (choice === SHOW_OUTPUT) {
      this.options.output.show(true);
    }
  }

  async dispose(): Promise<void> {
    await this.stop();
    this.disposeFallbacks();
  }

  private enqueue(operation: () => Promise<void>): Promise<void> {
    const run = this.queue.then(operation);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async doStart(): Promise<void> {
    const { output, status } = this.options;
    this.problem = undefined;
    status.show({ kind: 'starting' });
    const located = await this.options.locate();
    for (const line of located.rejected) {
      output.warn(`Not using ${line}`);
    }
    if (!located.server) {
      output.error('gemma-review was not found; install it or set gemma-review.path.');
      this.problem = { kind: 'notFound' };
      status.show({ kind: 'notFound' });
      this.registerFallbacks();
      void this.explainProblem();
      return;
    }

    const launch = located.server;
    output.info(`Starting ${describe(launch)} (found through ${SOURCE_LABELS[launch.source]})`);
    // The client registers the server's commands; the fallbacks must be gone first.
    this.disposeFallbacks();
    const client = createLanguageClient(launch, output);
    this.client = client;
    this.launch = launch;
    this.clientListeners.push(
      client.onNotification(STATUS_NOTIFICATION, (params: unknown) => {
        const parsed = parseServerStatus(params);
        if (this.client === client && parsed) {
          status.show({ kind: 'server', status: parsed });
          this.options.notice?.update(parsed);
        }
      }),
      client.onDidChangeState((event) => {
        if (this.client === client) {
          this.onStateChange(event.newState);
        }
      }),
    );
    try {
      await client.start();
      this.onStateChange(State.Running);
    } catch (error) {
      const message = errorMessage(error);
      output.error(`The language server did not start: ${message}`);
      await this.forgetClient();
      this.problem = { kind: 'failed', message };
      status.show({ kind: 'stopped', message });
      this.registerFallbacks();
      void this.explainProblem();
    }
  }

  /** Follow the client through crashes and its own restarts. */
  private onStateChange(state: State): void {
    const status = this.options.status;
    if (state === State.Starting) {
      this.disposeFallbacks();
      status.show({ kind: 'starting' });
    } else if (state === State.Running) {
      this.problem = undefined;
      // A status notification may already have said more than "running".
      if (status.view.kind === 'starting' || status.view.kind === 'stopped') {
        status.show({ kind: 'running' });
      }
    } else if (state === State.Stopped) {
      this.problem = { kind: 'stopped' };
      status.show({ kind: 'stopped' });
      this.registerFallbacks();
    }
  }

  private async doStop(): Promise<void> {
    if (!this.client) {
      return;
    }
    await this.forgetClient();
    this.options.output.info('Stopped the language server.');
  }

  private async forgetClient(): Promise<void> {
    this.options.notice?.close(); // a stopped server's outage is not news any more
    const client = this.client;
    this.client = undefined;
    this.launch = undefined;
    for (const listener of this.clientListeners.splice(0)) {
      listener.dispose();
    }
    if (client) {
      try {
        await client.dispose(2000);
      } catch (error) {
        this.options.output.warn(`Stopping the language server: ${errorMessage(error)}`);
      }
    }
  }

  /** Without a server the palette's review commands would say "command not found". */
  private registerFallbacks(): void {
    if (this.fallbacks.length > 0) {
      return;
    }
    for (const command of PALETTE_SERVER_COMMANDS) {
      try {
        this.fallbacks.push(vscode.commands.registerCommand(command, () => this.explainProblem()));
      } catch {
        // Still registered by a client that is shutting down; it answers for itself.
      }
    }
  }

  private disposeFallbacks(): void {
    for (const fallback of this.fallbacks.splice(0)) {
      fallback.dispose();
    }
  }
}
