import { beforeEach, describe, expect, it } from 'vitest';
import { Commands } from '../../src/constants';
import { ModelNotice, noticeText, plainText } from '../../src/notice';
import type { ServerStatus } from '../../src/status';
import { __stub } from '../stub/vscode';

beforeEach(() => __stub.reset());

const DOWN: ServerStatus = {
  state: 'unavailable',
  model: 'gemma4:e4b',
  message: 'nothing answers at http://127.0.0.1:11434: start Ollama (`ollama serve` then `ollama pull gemma4:e4b`)',
};
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('ModelNotice', () => {
  it('shows one plain-text notice with Show log and Retry while the model is down', () => {
    const notice = new ModelNotice();
    notice.update(DOWN);
    notice.update({ ...DOWN }); // every failed review repeats the status
    notice.update({ ...DOWN, state: 'reviewing' }); // a retry in flight changes nothing
    notice.update(DOWN);
    expect(__stub.progress).toHaveLength(1);
    const [shown] = __stub.progress;
    expect(shown.open).toBe(true);
    expect(shown.messages).toEqual([noticeText(DOWN)]);
    expect(shown.messages[0]).not.toContain('`');
    expect(shown.messages[0]).toContain('start Ollama (ollama serve then ollama pull gemma4:e4b)');
    expect(shown.messages[0]).toContain(`[Show log](command:${Commands.showOutput})`);
    expect(shown.messages[0]).toContain(`[Retry](command:${Commands.retry})`);
  });

  it('closes once the model answers, and a later outage gets a new notice', async () => {
    const notice = new ModelNotice();
    notice.update(DOWN);
    notice.update({ state: 'idle', model: 'gemma4:e4b' });
    await settle();
    expect(__stub.progress.map((p) => p.open)).toEqual([false]);
    notice.update(DOWN);
    expect(__stub.progress.map((p) => p.open)).toEqual([false, true]);
  });

  it('stays dismissed for the rest of an outage the user dismissed', async () => {
    const notice = new ModelNotice();
    notice.update(DOWN);
    __stub.progress[0].cancel();
    await settle();
    notice.update(DOWN);
    expect(__stub.progress).toHaveLength(1);
    expect(__stub.progress[0].open).toBe(false);
    notice.update({ state: 'idle', model: 'gemma4:e4b' });
    notice.update(DOWN);
    expect(__stub.progress).toHaveLength(2);
  });

  it('updates the text when the reason changes', () => {
    const notice = new ModelNotice();
    notice.update(DOWN);
    notice.update({ ...DOWN, message: "model 'gemma4:e4b' is not pulled; run `ollama pull gemma4:e4b`" });
    expect(__stub.progress[0].messages[1]).toContain("is not pulled; run ollama pull gemma4:e4b.");
  });
});

describe('plainText', () => {
  it('drops Markdown code spans', () => {
    expect(plainText('run `ollama serve`')).toBe('run ollama serve');
  });
});
