import DOMPurify from 'dompurify';
import { marked } from 'marked';
import { useMemo } from 'preact/hooks';

// Links open elsewhere and tell the target nothing about the console.
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

/**
 * Markdown written by an agent (or in a file), rendered with marked and then cleaned by DOMPurify:
 * raw HTML in it cannot add script, event handlers, frames or forms. The page's CSP is a second
 * wall.
 */
export function Markdown({ text, label }: { text: string; label?: string }) {
  const html = useMemo(() => {
    const rendered = marked.parse(text, { async: false, gfm: true, breaks: false });
    return DOMPurify.sanitize(rendered, {
      USE_PROFILES: { html: true },
      FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'object', 'embed'],
      FORBID_ATTR: ['style'],
    });
  }, [text]);
  return <div class="markdown" aria-label={label} dangerouslySetInnerHTML={{ __html: html }} />;
}
