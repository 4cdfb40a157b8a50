import type { ModelMessage } from 'ai';
import type { Message } from '../tasks/task-types.js';

/** A user's message as the model reads it: its text, after the list of files attached to it. */
export function userModelMessage(message: Pick<Message, 'content' | 'attachedFiles'>): ModelMessage {
  const files = message.attachedFiles ?? [];
  if (files.length === 0) return { role: 'user', content: [{ type: 'text', text: message.content }] };
  const list = files.map((f) => `- ${f.path}`).join('\n');
  return {
    role: 'user',
    content: [
      { type: 'text', text: `Files attached to this message, in the workspace:\n${list}` },
      { type: 'text', text: message.content },
    ],
  };
}
