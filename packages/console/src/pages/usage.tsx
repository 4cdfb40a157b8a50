import type { Agent, UsageReport } from '@kiln/sdk';
import { useEffect, useState } from 'preact/hooks';
import { errorText, kiln } from '../api.js';
import { ErrorNote } from '../components/status.js';
import { tokens } from '../format.js';

const WIDTH = 720;
const HEIGHT = 180;

/** Tokens and tasks per day and per agent, drawn as SVG bars from the usage API. */
export function UsagePage() {
  const [days, setDays] = useState(30);
  const [report, setReport] = useState<UsageReport | null>(null);
  const [agents, setAgents] = useState<Agent[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    kiln.tasks.usage({ days }).then(setReport, (err) => setError(errorText(err)));
  }, [days]);
  useEffect(() => {
    kiln.agents.list().then(setAgents, () => undefined);
  }, []);
  const agentName = (id: string | null) => agents.find((a) => a.id === id)?.name ?? (id ? id.slice(0, 8) : 'none');
  return (
    <section aria-labelledby="usage-title">
      <div class="title-row">
        <h1 id="usage-title">Usage</h1>
        <label>
          Period{' '}
          <select value={days} onChange={(e) => setDays(Number((e.target as HTMLSelectElement).value))}>
            <option value={7}>7 days</option>
            <option value={30}>30 days</option>
            <option value={90}>90 days</option>
          </select>
        </label>
      </div>
      <ErrorNote error={error} />
      {report && (
        <>
          <p class="muted">
            {tokens(report.days.reduce((n, d) => n + d.totalTokens, 0))} tokens and {report.days.reduce((n, d) => n + d.tasks, 0)} tasks in {days} days.
          </p>
          <h2>Tokens per day</h2>
          <BarChart label="Tokens per day" values={report.days.map((d) => ({ label: d.date, value: d.totalTokens }))} />
          <h2>Tasks per day</h2>
          <BarChart label="Tasks per day" values={report.days.map((d) => ({ label: d.date, value: d.tasks }))} />
          <h2>Per agent</h2>
          <div class="table-wrap">
            <table aria-label="Usage per agent">
              <thead><tr><th scope="col">Agent</th><th scope="col">Tasks</th><th scope="col">Tokens</th></tr></thead>
              <tbody>
                {report.agents.map((a) => (
                  <tr key={a.agentId ?? 'none'}><td>{agentName(a.agentId)}</td><td>{a.tasks}</td><td>{a.totalTokens.toLocaleString()}</td></tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}

function BarChart({ values, label }: { values: { label: string; value: number }[]; label: string }) {
  const max = Math.max(1, ...values.map((v) => v.value));
  const step = WIDTH / Math.max(1, values.length);
  return (
    <svg class="chart" viewBox={`0 0 ${WIDTH} ${HEIGHT + 20}`} role="img" aria-label={`${label}: bar chart`}>
      <line x1="0" y1={HEIGHT} x2={WIDTH} y2={HEIGHT} class="axis" />
      {values.map((v, i) => {
        const h = (v.value / max) * (HEIGHT - 10);
        return (
          <rect key={v.label} x={i * step + step * 0.15} y={HEIGHT - h} width={step * 0.7} height={h} class="bar">
            <title>{`${v.label}: ${v.value.toLocaleString()}`}</title>
          </rect>
        );
      })}
      <text x="0" y={HEIGHT + 15} class="tick">{values[0]?.label}</text>
      <text x={WIDTH} y={HEIGHT + 15} class="tick end">{values[values.length - 1]?.label}</text>
      <text x={WIDTH} y="10" class="tick end">{max.toLocaleString()}</text>
    </svg>
  );
}
