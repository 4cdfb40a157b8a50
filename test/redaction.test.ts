import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redactor } from '../src/core/agent/redactor.js';

describe('redaction of secret values', () => {
  const redactor = new Redactor({ A: 'alpha-secret', B: 'beta-secret-longer', SHORT: 'abc' });

  it('replaces every occurrence, longest secret first, and leaves short values alone', () => {
    assert.equal(redactor.text('x alpha-secret y beta-secret-longer z abc'), 'x [redacted] y [redacted] z abc');
  });

  it('catches a secret split across streamed pieces, whatever the split', () => {
    const text = 'before alpha-secret middle beta-secret-longer after';
    for (let a = 1; a < text.length; a++) {
      for (const b of [a + 1, a + 3, a + 7]) {
        if (b >= text.length) continue;
        const filter = redactor.stream();
        const out = filter.push(text.slice(0, a)) + filter.push(text.slice(a, b)) + filter.push(text.slice(b)) + filter.end();
        assert.equal(out, 'before [redacted] middle [redacted] after', `split at ${a}/${b}`);
      }
    }
  });

  it('redacts strings inside structured values', () => {
    assert.deepEqual(redactor.deep({ args: ['alpha-secret'], n: 1, nested: { s: 'x beta-secret-longer' } }), {
      args: ['[redacted]'],
      n: 1,
      nested: { s: 'x [redacted]' },
    });
  });

  it('redacts the start of a secret left at the end of text that was cut short', () => {
    const secret = 'beta-secret-longer';
    for (let n = 1; n < secret.length; n++) {
      assert.equal(redactor.cutText(`out: alpha-secret ${secret.slice(0, n)}`), 'out: [redacted] [redacted]', `cut after ${n} characters`);
    }
    assert.equal(redactor.cutText('ends plainly'), 'ends plainly');
  });
});
