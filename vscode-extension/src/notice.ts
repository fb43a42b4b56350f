import * as vscode from 'vscode';
import { Commands } from './constants';
import type { ServerStatus } from './status';

/** Notifications show text as it is: no Markdown code spans. */
export function plainText(message: string): string {
  return message.replace(/`/g, '');
}

/** The notification's text, with its two actions as command links. */
export function noticeText(status: ServerStatus): string {
  const why = plainText(status.message ?? `the model ${status.model} is unavailable`);
  return `${why}. Reviews resume by themselves once it answers. [Show log](command:${Commands.showOutput}) · [Retry](command:${Commands.retry})`;
}

/**
 * One notification while the model is unavailable, closed as soon as it answers again.
 *
 * VS Code cannot close a message notification from code, so this is a progress
 * notification (which closes when its task ends) whose text carries the actions as links;
 * the status bar item offers the same actions. Dismissed by the user, it stays dismissed
 * until the next outage.
 */
export class ModelNotice implements vscode.Disposable {
  private finish: (() => void) | undefined;
  private progress: vscode.Progress<{ message?: string }> | undefined;
  private text = '';
  private dismissed = false;

  get isShown(): boolean {
    return this.finish !== undefined;
  }

  update(status: ServerStatus): void {
    if (status.state === 'unavailable') {
      const text = noticeText(status);
      if (this.finish) {
        if (text !== this.text) {
          this.text = text;
          this.progress?.report({ message: text });
        }
      } else if (!this.dismissed) {
        this.open(text);
      }
    } else if (status.state === 'idle' || status.state === 'error') {
      // Reviewing says nothing yet (a retry may fail again); idle or another error means it answered.
      this.dismissed = false;
      this.close();
    }
  }

  private open(text: string): void {
    this.text = text;
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    const finish = resolve;
    // Set before VS Code runs the task, so a recovery that comes first still closes it.
    this.finish = finish;
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'Gemma Review', cancellable: true },
      (progress, token) => {
        if (this.finish === finish) {
          this.progress = progress;
          progress.report({ message: this.text });
          token.onCancellationRequested(() => {
            if (this.finish === finish) {
              this.dismissed = true;
              this.close();
            }
          });
        }
        return done;
      },
    );
  }

  close(): void {
    const finish = this.finish;
    this.finish = undefined;
    this.progress = undefined;
    finish?.();
  }

  dispose(): void {
    this.close();
  }
}
