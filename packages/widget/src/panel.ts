/**
 * The chat panel, drawn in a shadow root so that neither the page's styles nor the widget's
 * leak across. Everything from a task is shown as text (textContent), never as markup.
 */

const STYLE = `
:host { all: initial; }
.launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; border: 0; border-radius: 24px; padding: 12px 18px;
  background: #1f2937; color: #fff; font: 600 14px/1 system-ui, sans-serif; cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.25); }
.panel { position: fixed; right: 20px; bottom: 76px; z-index: 2147483000; width: 360px; max-width: calc(100vw - 40px); height: 520px;
  max-height: calc(100vh - 100px); display: flex; flex-direction: column; background: #fff; color: #111827; border-radius: 12px;
  box-shadow: 0 10px 30px rgba(0,0,0,.25); font: 14px/1.45 system-ui, sans-serif; overflow: hidden; }
.panel[hidden] { display: none; }
header { padding: 12px 14px; background: #1f2937; color: #fff; font-weight: 600; }
.log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 8px; }
.message { white-space: pre-wrap; word-wrap: break-word; padding: 8px 10px; border-radius: 10px; max-width: 85%; }
.message.user { align-self: flex-end; background: #2563eb; color: #fff; }
.message.assistant { align-self: flex-start; background: #f3f4f6; }
.message.pending::after { content: '…'; }
.activity, .note { font-size: 12px; color: #6b7280; }
.note.error { color: #b91c1c; }
.approval { border: 1px solid #f59e0b; background: #fffbeb; border-radius: 8px; padding: 8px; font-size: 13px; }
.approval pre { white-space: pre-wrap; word-wrap: break-word; margin: 6px 0; font-size: 12px; }
.approval button { margin-right: 6px; }
.files { border-top: 1px solid #e5e7eb; padding: 8px 12px; font-size: 13px; }
.files[hidden] { display: none; }
.files a { display: block; color: #2563eb; }
form { display: flex; gap: 6px; padding: 10px; border-top: 1px solid #e5e7eb; }
textarea { flex: 1; resize: none; font: inherit; padding: 6px 8px; border: 1px solid #d1d5db; border-radius: 8px; }
button { font: inherit; cursor: pointer; }
form button { border: 0; border-radius: 8px; padding: 0 14px; background: #2563eb; color: #fff; }
form button:disabled { opacity: .5; cursor: default; }
`;

export type Outcome = 'proceed_once' | 'proceed_always' | 'cancel';

export class Panel {
  private readonly log: HTMLElement;
  private readonly files: HTMLElement;
  private readonly input: HTMLTextAreaElement;
  private readonly sendButton: HTMLButtonElement;
  private readonly approvals = new Map<string, HTMLElement>();
  private readonly activities = new Map<string, HTMLElement>();

  constructor(title: string, open: boolean, onSend: (text: string) => void) {
    const host = document.createElement('div');
    host.setAttribute('data-kiln-widget', '');
    document.body.appendChild(host);
    const root = host.attachShadow({ mode: 'open' });
    const style = document.createElement('style');
    style.textContent = STYLE;

    const launcher = element('button', 'launcher', title);
    launcher.type = 'button';
    const panel = element('section', 'panel');
    panel.hidden = !open;
    panel.setAttribute('aria-label', title);
    launcher.addEventListener('click', () => {
      panel.hidden = !panel.hidden;
      if (!panel.hidden) this.input.focus();
    });

    this.log = element('div', 'log');
    this.log.setAttribute('role', 'log');
    this.files = element('div', 'files');
    this.files.hidden = true;
    const form = element('form');
    this.input = element('textarea');
    this.input.rows = 2;
    this.input.placeholder = 'Write a message…';
    this.sendButton = element('button', undefined, 'Send');
    this.sendButton.type = 'submit';
    form.append(this.input, this.sendButton);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const text = this.input.value.trim();
      if (text === '' || this.sendButton.disabled) return;
      this.input.value = '';
      onSend(text);
    });
    this.input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    panel.append(element('header', undefined, title), this.log, this.files, form);
    root.append(style, panel, launcher);
  }

  /** Removes everything shown, before the conversation is drawn again from its history. */
  clear(): void {
    this.log.replaceChildren();
    this.approvals.clear();
    this.activities.clear();
  }

  setBusy(busy: boolean): void {
    this.sendButton.disabled = busy;
  }

  message(role: 'user' | 'assistant', text: string): HTMLElement {
    const bubble = element('div', `message ${role}`, text);
    return this.append(bubble);
  }

  /** An assistant answer still arriving: its text grows, and `finish` sets what it ended as. */
  liveAnswer(): { add(text: string): void; finish(text: string): void } {
    const bubble = this.message('assistant', '');
    bubble.classList.add('pending');
    return {
      add: (text) => {
        bubble.textContent += text;
        this.scroll();
      },
      finish: (text) => {
        bubble.textContent = text;
        bubble.classList.remove('pending');
        if (text === '') bubble.remove();
        this.scroll();
      },
    };
  }

  /** One line per tool call, updated as it goes (`write_file: success`). */
  activity(callId: string, text: string): void {
    const line = this.activities.get(callId) ?? this.append(element('div', 'activity'));
    this.activities.set(callId, line);
    line.textContent = text;
  }

  note(text: string, error = false): void {
    this.append(element('div', error ? 'note error' : 'note', text));
  }

  /** A tool call that waits for the end user's decision. */
  approval(callId: string, toolName: string, args: unknown, decide: (outcome: Outcome) => void): void {
    if (this.approvals.has(callId)) return;
    const box = element('div', 'approval');
    box.append(element('div', undefined, `The assistant wants to use ${toolName}:`), element('pre', undefined, JSON.stringify(args ?? {}, null, 2)));
    const choices: [Outcome, string][] = [
      ['proceed_once', 'Allow once'],
      ['proceed_always', 'Always allow'],
      ['cancel', 'Cancel'],
    ];
    for (const [outcome, label] of choices) {
      const button = element('button', undefined, label);
      button.type = 'button';
      button.dataset.outcome = outcome;
      button.addEventListener('click', () => {
        for (const b of box.querySelectorAll('button')) b.disabled = true;
        decide(outcome);
      });
      box.append(button);
    }
    this.approvals.set(callId, this.append(box));
  }

  approvalDecided(callId: string): void {
    this.approvals.get(callId)?.remove();
    this.approvals.delete(callId);
  }

  /** The files the agent made, each a signed download link. */
  showFiles(files: { name: string; path: string; downloadUrl: string }[]): void {
    const links = files
      .filter((file) => /^https?:\/\//.test(file.downloadUrl))
      .map((file) => {
        const link = element('a', undefined, file.path);
        link.href = file.downloadUrl;
        link.download = file.name;
        link.target = '_blank';
        link.rel = 'noopener';
        return link;
      });
    this.files.replaceChildren(element('div', undefined, 'Files'), ...links);
    this.files.hidden = links.length === 0;
  }

  private append<T extends HTMLElement>(node: T): T {
    this.log.appendChild(node);
    this.scroll();
    return node;
  }

  private scroll(): void {
    this.log.scrollTop = this.log.scrollHeight;
  }
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
