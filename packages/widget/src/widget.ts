import { Conversation } from './conversation.js';
import { KilnClient } from './kiln-client.js';
import { Panel } from './panel.js';

/**
 * Kiln's chat widget. A page adds it with
 *
 *   <script src="https://kiln.example/widget.js" data-token-url="/my-token-endpoint" data-title="Help"></script>
 *
 * `data-token-url` is the customer's own endpoint: it knows the signed-in user, exchanges the
 * widget app's credentials for that user's token (POST /api/v1/auth/token) and returns
 * `{token, expiresAt}` (or Kiln's whole answer). `data-open="true"` opens the panel at once.
 */
function start(script: HTMLScriptElement): void {
  const tokenUrl = script.dataset.tokenUrl;
  if (!tokenUrl) {
    console.error('Kiln widget: add data-token-url="..." (your endpoint that returns a widget token) to the script tag.');
    return;
  }
  const client = new KilnClient(new URL(script.src).origin, new URL(tokenUrl, location.href).href);
  let conversation: Conversation | undefined;
  const panel = new Panel(script.dataset.title ?? 'Help', script.dataset.open === 'true', (text) => void conversation?.send(text));
  conversation = new Conversation(client, panel);
  conversation.resume().catch((error: unknown) => panel.note(error instanceof Error ? error.message : String(error), true));
}

const script = document.currentScript;
if (script instanceof HTMLScriptElement) {
  if (document.body) start(script);
  else document.addEventListener('DOMContentLoaded', () => start(script), { once: true });
}
