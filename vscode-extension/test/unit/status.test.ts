import { beforeEach, describe, expect, it } from 'vitest';
import { parseServerStatus, render, StatusBar, type StatusView } from '../../src/status';
import { __stub } from '../stub/vscode';

beforeEach(() => __stub.reset());

describe('render', () => {
  it.each<[string, StatusView, string, string | undefined]>([
    ['idle', { kind: 'server', status: { state: 'idle', model: 'gemma4:e4b', backend: 'ollama' } }, '$(check) gemma4:e4b', undefined],
    ['reviewing with speed', { kind: 'server', status: { state: 'reviewing', model: 'gemma4:e4b', tokensPerSecond: 37.6 } }, '$(sync~spin) gemma4:e4b 38 tok/s', undefined],
    ['reviewing before the first token', { kind: 'server', status: { state: 'reviewing', model: 'gemma4:e4b' } }, '$(sync~spin) gemma4:e4b', undefined],
    ['model unavailable', { kind: 'server', status: { state: 'unavailable', model: 'gemma4:e4b', message: "model 'gemma4:e4b' not found" } }, '$(warning) gemma4:e4b unavailable', 'warning'],
    ['server error', { kind: 'server', status: { state: 'error', model: 'gemma4:e2b', message: 'timed out' } }, '$(error) gemma4:e2b', 'error'],
    ['starting', { kind: 'starting' }, '$(loading~spin) Gemma Review', undefined],
    ['running, no status yet', { kind: 'running' }, '$(check) Gemma Review', undefined],
    ['not found', { kind: 'notFound' }, '$(error) Gemma Review', 'error'],
    ['stopped', { kind: 'stopped', message: 'exit code 2' }, '$(circle-slash) Gemma Review', 'error'],
  ])('%s', (_, view, text, background) => {
    const rendered = render(view);
    expect(rendered.text).toBe(text);
    expect(rendered.background).toBe(background);
    expect(rendered.tooltip).toMatch(/^Gemma Review: /);
    expect(rendered.tooltip).toContain('Click to show the Gemma Review output.');
  });

  it('puts the backend, the speed and the server message in the tooltip', () => {
    expect(render({ kind: 'server', status: { state: 'reviewing', model: 'm', backend: 'openai', tokensPerSecond: 12 } }).tooltip).toContain(
      'reviewing with m (openai), 12 tok/s',
    );
    expect(render({ kind: 'server', status: { state: 'unavailable', model: 'm', message: 'connection refused' } }).tooltip).toContain(
      'connection refused',
    );
    expect(render({ kind: 'stopped', message: 'exit code 2' }).tooltip).toContain('stopped: exit code 2');
  });
});

describe('parseServerStatus', () => {
  it('keeps the known fields of a valid notification', () => {
    expect(parseServerStatus({ state: 'reviewing', model: 'gemma4:e4b', backend: 'ollama', tokensPerSecond: 40, extra: 1 })).toEqual({
      state: 'reviewing',
      model: 'gemma4:e4b',
      backend: 'ollama',
      tokensPerSecond: 40,
      message: undefined,
    });
  });

  it.each([
    [null],
    ['idle'],
    [{ state: 'busy', model: 'm' }],
    [{ state: 'idle' }],
    [{ state: 'idle', model: 3 }],
  ])('rejects %j', (params) => {
    expect(parseServerStatus(params)).toBeUndefined();
  });

  it('drops fields of the wrong type', () => {
    expect(parseServerStatus({ state: 'idle', model: 'm', tokensPerSecond: 'fast', backend: 1, message: '' })).toEqual({
      state: 'idle',
      model: 'm',
      backend: undefined,
      tokensPerSecond: undefined,
      message: undefined,
    });
  });
});

describe('StatusBar', () => {
  it('is a visible right-hand item that opens the output, coloured by state', () => {
    const bar = new StatusBar();
    const [item] = __stub.statusBarItems;
    expect(item.visible).toBe(true);
    expect(item.command).toBe('gemma-review.showOutput');
    expect(item.name).toBe('Gemma Review');
    expect(item.text).toBe('$(loading~spin) Gemma Review');
    bar.show({ kind: 'server', status: { state: 'unavailable', model: 'gemma4:e4b' } });
    expect(item.backgroundColor?.id).toBe('statusBarItem.warningBackground');
    bar.show({ kind: 'server', status: { state: 'idle', model: 'gemma4:e4b' } });
    expect(item.backgroundColor).toBeUndefined();
    bar.dispose();
    expect(item.disposed).toBe(true);
  });
});
