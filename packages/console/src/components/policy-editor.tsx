import type { ToolPolicy } from '@kiln/sdk';
import { TOOL_NAMES } from '../api.js';

/** A rule per tool: allow, ask or deny; a tool left at "default" follows autoExecute. */
export function PolicyEditor({ value, onChange, idPrefix }: { value: ToolPolicy; onChange: (policy: ToolPolicy) => void; idPrefix: string }) {
  return (
    <fieldset class="policy">
      <legend>Tool policy</legend>
      {TOOL_NAMES.map((tool) => (
        <label key={tool} for={`${idPrefix}-${tool}`}>
          <code>{tool}</code>
          <select id={`${idPrefix}-${tool}`} value={value[tool] ?? ''} onChange={(e) => {
            const rule = (e.target as HTMLSelectElement).value as 'allow' | 'ask' | 'deny' | '';
            const next: ToolPolicy = { ...value };
            if (rule) next[tool] = rule;
            else delete next[tool];
            onChange(next);
          }}>
            <option value="">default</option>
            <option value="allow">allow</option>
            <option value="ask">ask</option>
            <option value="deny">deny</option>
          </select>
        </label>
      ))}
    </fieldset>
  );
}
