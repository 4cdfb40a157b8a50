/**
 * A reporter for Node's test runner that writes one JSON line per skipped test or suite (its
 * file, name and reason), from which `test/run.ts` makes the run's closing `skipped:` line.
 */
interface ReportedEvent {
  type: string;
  data: { name: string; file?: string; skip?: string | boolean };
}

/** One skip as this reporter writes it. */
export interface SkipRecord {
  file: string;
  name: string;
  reason: string;
}

export default async function* skipReporter(source: AsyncIterable<ReportedEvent>): AsyncGenerator<string> {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { skip, name, file } = event.data;
    if (skip === undefined || skip === false) continue;
    const record: SkipRecord = { file: file ?? '?', name, reason: skip === true ? 'no reason given' : skip };
    yield `${JSON.stringify(record)}\n`;
  }
}
