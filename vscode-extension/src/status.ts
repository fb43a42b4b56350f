import * as vscode from 'vscode';
import { Commands, OUTPUT_CHANNEL_NAME } from './constants';

/** Params of the server's `gemma-review/status` notification. */
export interface ServerStatus {
  state: 'idle' | 'reviewing' | 'unavailable' | 'error';
  model: string;
  backend?: string;
  tokensPerSecond?: number;
  message?: string;
}

/** What the status bar shows: the extension's own states, then whatever the server reports. */
export type StatusView =
  | { kind: 'starting' }
  | { kind: 'running' }
  | { kind: 'notFound' }
  | { kind: 'stopped'; message?: string }
  | { kind: 'server'; status: ServerStatus };

export interface Rendered {
  text: string;
  tooltip: string;
  background?: 'warning' | 'error';
}

const SERVER_STATES: ReadonlySet<string> = new Set(['idle', 'reviewing', 'unavailable', 'error']);
const CLICK = `Click to show the ${OUTPUT_CHANNEL_NAME} output.`;

/** Check the shape of a status notification; the server is another program. */
export function parseServerStatus(params: unknown): ServerStatus | undefined {
  if (typeof params !== 'object' || params === null) {
    return undefined;
  }
  const p = params as Record<string, unknown>;
  if (typeof p.state !== 'string' || !SERVER_STATES.has(p.state) || typeof p.model !== 'string') {
    return undefined;
  }
  return {
    state: p.state as ServerStatus['state'],
    model: p.model,
    backend: typeof p.backend === 'string' ? p.backend : undefined,
    tokensPerSecond:
      typeof p.tokensPerSecond === 'number' && Number.isFinite(p.tokensPerSecond)
        ? p.tokensPerSecond
        : undefined,
    message: typeof p.message === 'string' && p.message !== '' ? p.message : undefined,
  };
}

export function render(view: StatusView): Rendered {
  switch (view.kind) {
    case 'starting':
      return { text: '$(loading~spin) Gemma Review', tooltip: `Gemma Review: starting the language server\n${CLICK}` };
    case 'running':
      return { text: '$(check) Gemma Review', tooltip: `Gemma Review: the language server is running\n${CLICK}` };
    case 'notFound':
      return {
        text: '$(error) Gemma Review',
        tooltip: `Gemma Review: gemma-review was not found; install it or set gemma-review.path\n${CLICK}`,
        background: 'error',
      };
    case 'stopped':
      return {
        text: '$(circle-slash) Gemma Review',
        tooltip: `Gemma Review: the language server stopped${view.message ? `: ${view.message}` : ''}\n${CLICK}`,
        background: 'error',
      };
    case 'server':
      return renderServer(view.status);
  }
}

function renderServer(status: ServerStatus): Rendered {
  const model = status.model;
  const on = status.backend ? `${model} (${status.backend})` : model;
  const detail = status.message ? `\n${status.message}` : '';
  switch (status.state) {
    case 'idle':
      return { text: `$(check) ${model}`, tooltip: `Gemma Review: idle, model ${on}${detail}\n${CLICK}` };
    case 'reviewing': {
      const speed =
        status.tokensPerSecond !== undefined ? ` ${Math.round(status.tokensPerSecond)} tok/s` : '';
      return {
        text: `$(sync~spin) ${model}${speed}`,
        tooltip: `Gemma Review: reviewing with ${on}${speed ? `,${speed}` : ''}${detail}\n${CLICK}`,
      };
    }
    case 'unavailable':
      return {
        text: `$(warning) ${model} unavailable`,
        tooltip: `Gemma Review: model ${on} is unavailable${detail}\n${CLICK}`,
        background: 'warning',
      };
    case 'error':
      return {
        text: `$(error) ${model}`,
        tooltip: `Gemma Review: the last review failed${detail}\n${CLICK}`,
        background: 'error',
      };
  }
}

/** The status bar item: model and state; clicking it opens the output. */
export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private current: StatusView = { kind: 'starting' };

  constructor() {
    this.item = vscode.window.createStatusBarItem('gemma-review.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'Gemma Review';
    this.item.command = Commands.showOutput;
    this.show(this.current);
    this.item.show();
  }

  get view(): StatusView {
    return this.current;
  }

  show(view: StatusView): void {
    this.current = view;
    const rendered = render(view);
    this.item.text = rendered.text;
    this.item.tooltip = rendered.tooltip;
    this.item.backgroundColor = rendered.background
      ? new vscode.ThemeColor(`statusBarItem.${rendered.background}Background`)
      : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
