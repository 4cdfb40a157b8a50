export interface EnvRow {
  name: string;
  value: string;
}

/** Environment variables as rows; with `secret`, values are typed into password fields and never shown back. */
export function EnvEditor({ rows, onChange, legend, secret, idPrefix }: { rows: EnvRow[]; onChange: (rows: EnvRow[]) => void; legend: string; secret?: boolean; idPrefix: string }) {
  const set = (index: number, change: Partial<EnvRow>) => onChange(rows.map((row, i) => (i === index ? { ...row, ...change } : row)));
  return (
    <fieldset class="env">
      <legend>{legend}</legend>
      {rows.map((row, index) => (
        <div class="env-row" key={index}>
          <label for={`${idPrefix}-name-${index}`} class="visually-hidden">{legend} name {index + 1}</label>
          <input id={`${idPrefix}-name-${index}`} placeholder="NAME" value={row.name} spellcheck={false} onInput={(e) => set(index, { name: (e.target as HTMLInputElement).value })} />
          <label for={`${idPrefix}-value-${index}`} class="visually-hidden">{legend} value {index + 1}</label>
          <input id={`${idPrefix}-value-${index}`} type={secret ? 'password' : 'text'} autoComplete={secret ? 'new-password' : 'off'} placeholder="value" value={row.value}
            onInput={(e) => set(index, { value: (e.target as HTMLInputElement).value })} />
          <button type="button" class="link" aria-label={`Remove ${legend} ${index + 1}`} onClick={() => onChange(rows.filter((_, i) => i !== index))}>Remove</button>
        </div>
      ))}
      <button type="button" onClick={() => onChange([...rows, { name: '', value: '' }])}>Add {secret ? 'secret' : 'variable'}</button>
    </fieldset>
  );
}

export function envObject(rows: EnvRow[]): Record<string, string> | undefined {
  const named = rows.filter((row) => row.name.trim() !== '');
  return named.length === 0 ? undefined : Object.fromEntries(named.map((row) => [row.name.trim(), row.value]));
}
