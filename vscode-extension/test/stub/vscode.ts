/**
 * A small in-memory stand-in for the `vscode` module: the parts the extension and the fake
 * language client use, with VS Code's observable behaviour (duplicate command ids throw,
 * unknown commands reject, settings layer user < workspace < folder over the manifest's
 * defaults). `__stub` lets tests arrange state and read what happened.
 */
import * as path from 'node:path';
import manifest from '../../package.json';

type Listener<T> = (event: T) => unknown;

export class Disposable {
  private done = false;
  constructor(private readonly callOnDispose: () => unknown) {}
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => items.forEach((item) => item.dispose()));
  }
  dispose(): void {
    if (!this.done) {
      this.done = true;
      this.callOnDispose();
    }
  }
}

export class EventEmitter<T> {
  private readonly listeners = new Set<Listener<T>>();
  readonly event = (listener: Listener<T>): Disposable => {
    this.listeners.add(listener);
    return new Disposable(() => this.listeners.delete(listener));
  };
  fire(event: T): void {
    for (const listener of [...this.listeners]) {
      listener(event);
    }
  }
  get size(): number {
    return this.listeners.size;
  }
  dispose(): void {
    this.listeners.clear();
  }
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly authority: string,
    readonly path: string,
  ) {}
  static file(fsPath: string): Uri {
    return new Uri('file', '', path.posix.normalize(fsPath));
  }
  static parse(value: string): Uri {
    const match = /^([a-zA-Z][\w+.-]*):(?:\/\/([^/?#]*))?([^?#]*)/.exec(value);
    if (!match) {
      throw new Error(`not a URI: ${value}`);
    }
    return new Uri(match[1], match[2] ?? '', decodeURIComponent(match[3]));
  }
  static joinPath(base: Uri, ...segments: string[]): Uri {
    return new Uri(base.scheme, base.authority, path.posix.join(base.path, ...segments));
  }
  get fsPath(): string {
    return this.path;
  }
  toString(): string {
    const encoded = this.path.split('/').map(encodeURIComponent).join('/');
    return `${this.scheme}://${this.authority}${encoded}`;
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(startLine: number, startCharacter: number, endLine: number, endCharacter: number) {
    this.start = new Position(startLine, startCharacter);
    this.end = new Position(endLine, endCharacter);
  }
  get isEmpty(): boolean {
    return this.start.line === this.end.line && this.start.character === this.end.character;
  }
}

export class Selection extends Range {
  get anchor(): Position {
    return this.start;
  }
  get active(): Position {
    return this.end;
  }
}

export class ThemeColor {
  constructor(readonly id: string) {}
}

export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}

// ---- commands -------------------------------------------------------------------------

type Handler = (...args: unknown[]) => unknown;
const registry = new Map<string, Handler>();

export const commands = {
  registerCommand(id: string, handler: Handler): Disposable {
    if (registry.has(id)) {
      throw new Error(`command '${id}' already exists`);
    }
    registry.set(id, handler);
    return new Disposable(() => {
      if (registry.get(id) === handler) {
        registry.delete(id);
      }
    });
  },
  async executeCommand(id: string, ...args: unknown[]): Promise<unknown> {
    const handler = registry.get(id);
    if (!handler) {
      throw new Error(`command '${id}' not found`);
    }
    return handler(...args);
  },
  async getCommands(): Promise<string[]> {
    return [...registry.keys()];
  },
};

// ---- window ---------------------------------------------------------------------------

export class FakeOutputChannel {
  readonly lines: string[] = [];
  shown = 0;
  disposed = false;
  constructor(readonly name: string) {}
  append(value: string): void {
    this.lines.push(value);
  }
  appendLine(value: string): void {
    this.lines.push(value);
  }
  replace(value: string): void {
    this.lines.splice(0, this.lines.length, value);
  }
  clear(): void {
    this.lines.length = 0;
  }
  show(): void {
    this.shown += 1;
  }
  hide(): void {}
  dispose(): void {
    this.disposed = true;
  }
}

export type LogLevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error';

/** `createOutputChannel(name, { log: true })`: a LogOutputChannel, which records each line's level. */
export class FakeLogOutputChannel extends FakeOutputChannel {
  readonly log = true;
  readonly entries: { level: LogLevelName; message: string }[] = [];
  logLevel = 2; // LogLevel.Debug
  onDidChangeLogLevel = (_listener: unknown) => new Disposable(() => {});
  private write(level: LogLevelName, message: string | Error): void {
    const text = message instanceof Error ? (message.stack ?? message.message) : message;
    this.entries.push({ level, message: text });
    this.lines.push(text);
  }
  override appendLine(value: string): void {
    this.write('info', value); // what VS Code does with plain lines on a log channel
  }
  trace(message: string): void {
    this.write('trace', message);
  }
  debug(message: string): void {
    this.write('debug', message);
  }
  info(message: string): void {
    this.write('info', message);
  }
  warn(message: string): void {
    this.write('warn', message);
  }
  error(message: string | Error): void {
    this.write('error', message);
  }
}

export class FakeStatusBarItem {
  text = '';
  tooltip: string | undefined;
  command: string | undefined;
  name: string | undefined;
  backgroundColor: ThemeColor | undefined;
  visible = false;
  disposed = false;
  constructor(
    readonly id: string | undefined,
    readonly alignment: StatusBarAlignment,
    readonly priority: number | undefined,
  ) {}
  show(): void {
    this.visible = true;
  }
  hide(): void {
    this.visible = false;
  }
  dispose(): void {
    this.disposed = true;
  }
}

export interface ShownMessage {
  level: 'info' | 'warning' | 'error';
  text: string;
  items: string[];
}

export enum ProgressLocation {
  SourceControl = 1,
  Window = 10,
  Notification = 15,
}

/** A progress notification: open until its task's promise settles. */
export interface ShownProgress {
  title: string;
  messages: string[];
  open: boolean;
  cancel(): void;
}

export interface FakeEditor {
  document: { uri: Uri; languageId: string };
  selection: Selection;
}

const state = {
  outputChannels: [] as FakeOutputChannel[],
  statusBarItems: [] as FakeStatusBarItem[],
  messages: [] as ShownMessage[],
  progress: [] as ShownProgress[],
  answer: (_message: ShownMessage): string | undefined => undefined,
  inputBoxes: [] as { prompt?: string; placeHolder?: string }[],
  inputAnswer: undefined as string | undefined,
  activeTextEditor: undefined as FakeEditor | undefined,
  trusted: true,
  folders: [] as { uri: Uri; name: string; index: number }[],
  settings: {
    global: new Map<string, unknown>(),
    workspace: new Map<string, unknown>(),
    folder: new Map<string, Map<string, unknown>>(),
  },
  extensions: new Map<string, unknown>(),
};

function showMessage(level: ShownMessage['level']) {
  return (text: string, ...items: string[]): Promise<string | undefined> => {
    const message = { level, text, items };
    state.messages.push(message);
    return Promise.resolve(state.answer(message));
  };
}

export const window = {
  createOutputChannel(name: string, options?: string | { log: true }): FakeOutputChannel {
    // Like VS Code: only `{ log: true }` gives a channel with levels (info, warn, error...).
    const log = typeof options === 'object' && options.log === true;
    const channel = log ? new FakeLogOutputChannel(name) : new FakeOutputChannel(name);
    state.outputChannels.push(channel);
    return channel;
  },
  createStatusBarItem(
    idOrAlignment?: string | StatusBarAlignment,
    alignmentOrPriority?: StatusBarAlignment | number,
    priority?: number,
  ): FakeStatusBarItem {
    const item =
      typeof idOrAlignment === 'string'
        ? new FakeStatusBarItem(idOrAlignment, alignmentOrPriority ?? StatusBarAlignment.Left, priority)
        : new FakeStatusBarItem(undefined, idOrAlignment ?? StatusBarAlignment.Left, alignmentOrPriority);
    state.statusBarItems.push(item);
    return item;
  },
  withProgress<T>(
    options: { location: ProgressLocation; title?: string; cancellable?: boolean },
    task: (
      progress: { report(value: { message?: string }): void },
      token: { onCancellationRequested(listener: () => void): Disposable },
    ) => Promise<T>,
  ): Promise<T> {
    const cancel = new EventEmitter<void>();
    const shown: ShownProgress = { title: options.title ?? '', messages: [], open: true, cancel: () => cancel.fire() };
    state.progress.push(shown);
    const result = task(
      { report: (value) => value.message !== undefined && shown.messages.push(value.message) },
      { onCancellationRequested: (listener) => cancel.event(listener) },
    );
    void result.finally(() => (shown.open = false));
    return result;
  },
  showInputBox(options: { prompt?: string; placeHolder?: string; ignoreFocusOut?: boolean }): Promise<string | undefined> {
    state.inputBoxes.push({ prompt: options.prompt, placeHolder: options.placeHolder });
    return Promise.resolve(state.inputAnswer);
  },
  showInformationMessage: showMessage('info'),
  showWarningMessage: showMessage('warning'),
  showErrorMessage: showMessage('error'),
  get activeTextEditor(): FakeEditor | undefined {
    return state.activeTextEditor;
  },
};

// ---- workspace ------------------------------------------------------------------------

type Properties = Record<string, { default?: unknown }>;
const PROPERTIES = manifest.contributes.configuration.properties as Properties;
const configurationChanged = new EventEmitter<{ affectsConfiguration(section: string): boolean }>();
const trustGranted = new EventEmitter<void>();

function folderOf(scope: unknown): string | undefined {
  const uri = scope instanceof Uri ? scope : (scope as { uri?: Uri } | undefined)?.uri;
  if (!uri) {
    return undefined;
  }
  const text = uri.toString();
  const folder = state.folders.find((f) => text === f.uri.toString() || text.startsWith(`${f.uri.toString()}/`));
  return folder?.uri.toString();
}

function layered(key: string, folder: string | undefined) {
  const folderValues = folder ? state.settings.folder.get(folder) : undefined;
  return {
    key,
    defaultValue: PROPERTIES[key]?.default,
    globalValue: state.settings.global.get(key),
    workspaceValue: state.settings.workspace.get(key),
    workspaceFolderValue: folderValues?.get(key),
  };
}

function effective(key: string, folder: string | undefined): unknown {
  const l = layered(key, folder);
  for (const value of [l.workspaceFolderValue, l.workspaceValue, l.globalValue]) {
    if (value !== undefined) {
      return value;
    }
  }
  return l.defaultValue;
}

/** A dotted prefix of setting names reads as a nested object, as in VS Code. */
function read(key: string, folder: string | undefined): unknown {
  if (key in PROPERTIES) {
    return effective(key, folder);
  }
  const nested: Record<string, unknown> = {};
  let found = false;
  for (const name of Object.keys(PROPERTIES)) {
    if (!name.startsWith(`${key}.`)) {
      continue;
    }
    found = true;
    const parts = name.slice(key.length + 1).split('.');
    let target = nested;
    for (const part of parts.slice(0, -1)) {
      target = (target[part] ??= {}) as Record<string, unknown>;
    }
    target[parts[parts.length - 1]] = effective(name, folder);
  }
  return found ? nested : undefined;
}

export const workspace = {
  getConfiguration(section?: string, scope?: unknown) {
    const folder = folderOf(scope);
    const full = (key: string) => (section ? `${section}.${key}` : key);
    return {
      get<T>(key: string, defaultValue?: T): T | undefined {
        const value = read(full(key), folder) as T | undefined;
        return value === undefined ? defaultValue : value;
      },
      has(key: string): boolean {
        return read(full(key), folder) !== undefined;
      },
      inspect(key: string) {
        return full(key) in PROPERTIES ? layered(full(key), folder) : undefined;
      },
    };
  },
  onDidChangeConfiguration: configurationChanged.event,
  onDidGrantWorkspaceTrust: trustGranted.event,
  get isTrusted(): boolean {
    return state.trusted;
  },
  get workspaceFolders() {
    return state.folders.length > 0 ? state.folders : undefined;
  },
};

// ---- extensions -----------------------------------------------------------------------

export const extensions = {
  getExtension(id: string): unknown {
    return state.extensions.get(id);
  },
};

// ---- test harness ---------------------------------------------------------------------

export type SettingTarget = 'global' | 'workspace' | Uri;

export const __stub = {
  reset(): void {
    registry.clear();
    state.outputChannels.length = 0;
    state.statusBarItems.length = 0;
    state.messages.length = 0;
    state.progress.length = 0;
    state.answer = () => undefined;
    state.inputBoxes.length = 0;
    state.inputAnswer = undefined;
    state.activeTextEditor = undefined;
    state.trusted = true;
    state.folders = [];
    state.settings.global.clear();
    state.settings.workspace.clear();
    state.settings.folder.clear();
    state.extensions.clear();
    configurationChanged.dispose();
    trustGranted.dispose();
  },
  /** Change a setting (full name) and tell the listeners, as the Settings editor does. */
  setSetting(key: string, value: unknown, target: SettingTarget = 'global'): void {
    let layer: Map<string, unknown>;
    if (target === 'global') {
      layer = state.settings.global;
    } else if (target === 'workspace') {
      layer = state.settings.workspace;
    } else {
      const folder = target.toString();
      layer = state.settings.folder.get(folder) ?? new Map();
      state.settings.folder.set(folder, layer);
    }
    if (value === undefined) {
      layer.delete(key);
    } else {
      layer.set(key, value);
    }
    configurationChanged.fire({
      affectsConfiguration: (section: string) => key === section || key.startsWith(`${section}.`),
    });
  },
  setFolders(...paths: string[]): void {
    state.folders = paths.map((p, index) => ({ uri: Uri.file(p), name: path.basename(p), index }));
  },
  setTrusted(trusted: boolean): void {
    state.trusted = trusted;
  },
  grantTrust(): void {
    state.trusted = true;
    trustGranted.fire();
  },
  openEditor(fsPath: string, languageId: string, selection = new Selection(0, 0, 0, 0), scheme = 'file'): FakeEditor {
    const uri = scheme === 'file' ? Uri.file(fsPath) : Uri.parse(`${scheme}:${fsPath}`);
    state.activeTextEditor = { document: { uri, languageId }, selection };
    return state.activeTextEditor;
  },
  closeEditor(): void {
    state.activeTextEditor = undefined;
  },
  addExtension(id: string, extension: unknown): void {
    state.extensions.set(id, extension);
  },
  /** What the user types into the next input boxes (undefined: Escape). */
  answerInputBoxes(answer: string | undefined): void {
    state.inputAnswer = answer;
  },
  get inputBoxes(): { prompt?: string; placeHolder?: string }[] {
    return state.inputBoxes;
  },
  /** Decide which button the user presses on the next notifications. */
  answerMessages(answer: (message: ShownMessage) => string | undefined): void {
    state.answer = answer;
  },
  get progress(): ShownProgress[] {
    return state.progress;
  },
  get messages(): ShownMessage[] {
    return state.messages;
  },
  get outputChannels(): FakeOutputChannel[] {
    return state.outputChannels;
  },
  get statusBarItems(): FakeStatusBarItem[] {
    return state.statusBarItems;
  },
  commandIds(): string[] {
    return [...registry.keys()].sort();
  },
  get configurationListeners(): number {
    return configurationChanged.size;
  },
};
