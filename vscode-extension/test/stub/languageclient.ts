/**
 * Stands in for `vscode-languageclient/node` in unit tests. It does towards the extension
 * what vscode-languageclient 9 does: it registers the commands the server advertises
 * (through `middleware.executeCommand`), evaluates `initializationOptions`, syncs the
 * configuration section (through `middleware.workspace.didChangeConfiguration`), answers
 * `workspace/configuration` (through `middleware.workspace.configuration`) and reports
 * state changes. Tests drive the "server" side through `fakeServer` and the helpers below.
 */
import { commands, Disposable, EventEmitter, Uri, workspace } from './vscode';

export enum State {
  Stopped = 1,
  Running = 2,
  Starting = 3,
}

export enum RevealOutputChannelOn {
  Debug = 0,
  Info = 1,
  Warn = 2,
  Error = 3,
  Never = 4,
}

type Next = (...args: any[]) => any;
interface Middleware {
  executeCommand?: (command: string, args: unknown[], next: Next) => unknown;
  workspace?: {
    configuration?: (params: { items: ConfigurationItem[] }, token: unknown, next: Next) => unknown;
    didChangeConfiguration?: (sections: string[] | undefined, next: Next) => Promise<void>;
  };
}
interface ConfigurationItem {
  section?: string;
  scopeUri?: string;
}
interface ClientOptions {
  documentSelector?: unknown;
  outputChannel?: unknown;
  traceOutputChannel?: unknown;
  initializationOptions?: unknown;
  synchronize?: { configurationSection?: string };
  middleware?: Middleware;
  [key: string]: unknown;
}

/** What the fake server advertises and how it behaves. */
export const fakeServer = {
  commands: ['gemma-review.reviewFile', 'gemma-review.reviewChanges', 'gemma-review.refactor'],
  /** When set, `start()` rejects with this message, as when the server exits at once. */
  failStart: undefined as string | undefined,
  reset(): void {
    this.commands = ['gemma-review.reviewFile', 'gemma-review.reviewChanges', 'gemma-review.refactor'];
    this.failStart = undefined;
  },
};

const CANCELLATION = { isCancellationRequested: false, onCancellationRequested: () => new Disposable(() => {}) };

export class LanguageClient {
  static instances: LanguageClient[] = [];

  readonly sentNotifications: { method: string; params: any }[] = [];
  readonly sentRequests: { method: string; params: any }[] = [];
  initializationOptions: unknown;
  disposed = false;
  private readonly handlers = new Map<string, (params: unknown) => void>();
  private readonly stateChanged = new EventEmitter<{ oldState: State; newState: State }>();
  private currentState = State.Stopped;
  private features: Disposable[] = [];
  /** Static features registered by the extension, and the capabilities they fill in. */
  readonly staticFeatures: { fillClientCapabilities(capabilities: Record<string, any>): void }[] = [];

  registerFeature(feature: { fillClientCapabilities(capabilities: Record<string, any>): void }): void {
    this.staticFeatures.push(feature);
  }

  clientCapabilities(): Record<string, any> {
    const capabilities: Record<string, any> = {};
    for (const feature of this.staticFeatures) {
      feature.fillClientCapabilities(capabilities);
    }
    return capabilities;
  }

  constructor(
    readonly id: string,
    readonly name: string,
    readonly serverOptions: any,
    readonly clientOptions: ClientOptions,
  ) {
    LanguageClient.instances.push(this);
  }

  get state(): State {
    return this.currentState;
  }

  get onDidChangeState() {
    return this.stateChanged.event;
  }

  get middleware(): Middleware {
    return this.clientOptions.middleware ?? {};
  }

  isRunning(): boolean {
    return this.currentState === State.Running;
  }

  onNotification(method: string, handler: (params: unknown) => void): Disposable {
    this.handlers.set(method, handler);
    return new Disposable(() => this.handlers.delete(method));
  }

  async sendNotification(method: string, params?: unknown): Promise<void> {
    this.sentNotifications.push({ method, params });
  }

  async sendRequest(method: string, params?: unknown): Promise<unknown> {
    this.sentRequests.push({ method, params });
    return null;
  }

  async start(): Promise<void> {
    this.setState(State.Starting);
    if (fakeServer.failStart) {
      this.setState(State.Stopped);
      throw new Error(fakeServer.failStart);
    }
    const init = this.clientOptions.initializationOptions;
    this.initializationOptions = typeof init === 'function' ? init() : init;
    this.registerServerCommands();
    const section = this.clientOptions.synchronize?.configurationSection;
    if (section) {
      this.features.push(
        workspace.onDidChangeConfiguration((event) => {
          if (event.affectsConfiguration(section)) {
            this.syncConfiguration([section]);
          }
        }),
      );
      this.syncConfiguration([section]);
    }
    this.setState(State.Running);
  }

  async stop(): Promise<void> {
    if (this.currentState === State.Stopped) {
      return;
    }
    // As in vscode-languageclient: the state changes first, then the features are cleared.
    this.setState(State.Stopped);
    this.clearFeatures();
  }

  async dispose(): Promise<void> {
    await this.stop();
    this.disposed = true;
  }

  // ---- test helpers: the server's side -------------------------------------------------

  /** The server sends a notification. */
  notify(method: string, params: unknown): void {
    this.handlers.get(method)?.(params);
  }

  /** The server asks `workspace/configuration`. */
  async requestConfiguration(items: ConfigurationItem[]): Promise<unknown> {
    const next = (params: { items: ConfigurationItem[] }) =>
      params.items.map((item) =>
        workspace
          .getConfiguration(undefined, item.scopeUri ? Uri.parse(item.scopeUri) : undefined)
          .get(item.section ?? ''),
      );
    const middleware = this.middleware.workspace?.configuration;
    return middleware ? middleware({ items }, CANCELLATION, next) : next({ items });
  }

  /** The server process dies and is not restarted. */
  crash(): void {
    this.clearFeatures();
    this.setState(State.Stopped);
  }

  private setState(newState: State): void {
    const oldState = this.currentState;
    this.currentState = newState;
    if (oldState !== newState) {
      this.stateChanged.fire({ oldState, newState });
    }
  }

  private registerServerCommands(): void {
    const execute = (command: string, args: unknown[]) =>
      this.sendRequest('workspace/executeCommand', { command, arguments: args });
    for (const command of fakeServer.commands) {
      this.features.push(
        commands.registerCommand(command, (...args: unknown[]) =>
          this.middleware.executeCommand
            ? this.middleware.executeCommand(command, args, execute)
            : execute(command, args),
        ),
      );
    }
  }

  private syncConfiguration(sections: string[]): void {
    const next = (keys: string[] | undefined) =>
      this.sendNotification('workspace/didChangeConfiguration', {
        settings: keys === undefined ? null : workspace.getConfiguration().get(keys[0]),
      });
    const middleware = this.middleware.workspace?.didChangeConfiguration;
    void (middleware ? middleware(sections, next) : next(sections));
  }

  private clearFeatures(): void {
    for (const feature of this.features.splice(0)) {
      feature.dispose();
    }
  }
}
