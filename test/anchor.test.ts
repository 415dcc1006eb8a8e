import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { anchorEvents } from '../src/domain/extraction/anchor.js';
import type { AnchorReport, ExtractedEvent, SourceChunk } from '../src/domain/extraction/types.js';
import { MAX_QUOTE_WORDS } from '../src/domain/extraction/types.js';
import { chunkText } from '../src/text/chunking.js';

/** No lone surrogate (String.prototype.isWellFormed is not in our TypeScript lib). */
function isWellFormed(text: string): boolean {
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);
}

function chunk(index: number, text: string, startChar = 0): SourceChunk {
  return { chunkId: `art_x::${index}`, index, startChar, endChar: startChar + text.length, text };
}

function event(
  evidence: { quote: string; chunk_index: number }[],
  narrative = 'something happened',
): ExtractedEvent {
  return {
    category: 'Decision',
    narrative,
    event_time: null,
    subject: { type: 'other', ref: 'x' },
    actors: [],
    confidence: 0.7,
    evidence,
  };
}

/** What the database and every reader rely on, checked on every report the tests produce. */
function assertInvariants(report: AnchorReport, chunks: readonly SourceChunk[]): void {
  for (const anchored of report.events) {
    assert.ok(anchored.evidence.length > 0);
    for (const evidence of anchored.evidence) {
      const source = chunks.find((c) => c.index === evidence.chunkIndex);
      assert.ok(source, `chunk ${evidence.chunkIndex} exists`);
      assert.equal(evidence.chunkId, source.chunkId);
      // Offsets index the revision text: the span lies inside the chunk it names.
      assert.ok(evidence.startChar >= source.startChar && evidence.startChar < evidence.endChar);
      assert.ok(evidence.endChar <= source.endChar);
      assert.equal(
        evidence.quote,
        source.text.slice(evidence.startChar - source.startChar, evidence.endChar - source.startChar),
      );
      assert.equal(evidence.quote, evidence.quote.trim());
      assert.ok(isWellFormed(evidence.quote), 'no lone surrogate');
      assert.ok(evidence.quote.split(/\s+/).length <= MAX_QUOTE_WORDS);
    }
  }
}

function anchor(events: ExtractedEvent[], chunks: SourceChunk[]): AnchorReport {
  const report = anchorEvents(events, chunks);
  assertInvariants(report, chunks);
  return report;
}

describe('anchorEvents', () => {
  test('an exact quote keeps its offsets in the chunk', () => {
    const text =
      'Alice presented the roadmap. The team agreed to go with a freemium model. Bob raised concerns.';
    const chunks = [chunk(0, text)];
    const report = anchor(
      [event([{ quote: 'The team agreed to go with a freemium model.', chunk_index: 0 }])],
      chunks,
    );
    assert.equal(report.droppedEvidence, 0);
    assert.equal(report.droppedEvents, 0);
    const [evidence] = report.events[0]!.evidence;
    assert.equal(evidence!.startChar, text.indexOf('The team'));
    assert.equal(evidence!.quote, 'The team agreed to go with a freemium model.');
    assert.equal(evidence!.chunkId, 'art_x::0');
    assert.equal(evidence!.chunkIndex, 0);
  });

  test('surrounding whitespace of the quote is not part of the evidence', () => {
    const text = 'Intro.  Bob shipped it.  Outro.';
    const report = anchor([event([{ quote: '  Bob shipped it.  ', chunk_index: 0 }])], [chunk(0, text)]);
    assert.equal(report.events[0]!.evidence[0]!.quote, 'Bob shipped it.');
  });

  test('whitespace and case differences map back to the exact source slice', () => {
    const text = 'Notes:\n  The  Team\n   AGREED to go with   a Freemium model.\nEnd.';
    const chunks = [chunk(0, text)];
    const report = anchor(
      [event([{ quote: 'the team agreed to go with a freemium model', chunk_index: 0 }])],
      chunks,
    );
    const [evidence] = report.events[0]!.evidence;
    assert.equal(evidence!.quote, 'The  Team\n   AGREED to go with   a Freemium model');
    assert.equal(evidence!.startChar, text.indexOf('The  Team'));
  });

  test('typographic quotes and dashes, Markdown emphasis and edge punctuation are tolerated', () => {
    const text = 'We’ll ship it — finally. **Launch Date**: After discussion, Alice decided.';
    const chunks = [chunk(0, text)];
    const report = anchor(
      [
        event([{ quote: "We'll ship it - finally", chunk_index: 0 }]),
        event([{ quote: 'Launch Date: after discussion', chunk_index: 0 }]),
        event([{ quote: '"Alice decided!"', chunk_index: 0 }]),
      ],
      chunks,
    );
    assert.deepEqual(
      report.events.map((e) => e.evidence[0]!.quote),
      ['We’ll ship it — finally', 'Launch Date**: After discussion', 'Alice decided'],
    );
  });

  test('a quote must be whole words of the source', () => {
    const text = 'Yesterday we concatenated the logs. Yes, we did.';
    const report = anchor(
      [event([{ quote: 'Yes', chunk_index: 0 }]), event([{ quote: 'cat', chunk_index: 0 }])],
      [chunk(0, text)],
    );
    assert.equal(report.events.length, 1);
    assert.equal(report.events[0]!.evidence[0]!.startChar, text.indexOf('Yes,'));
    assert.equal(report.droppedEvents, 1);
  });

  test('a quote with an ellipsis spans its parts', () => {
    const text = 'Caching layer is done! :tada: Performance tests show 3.2x improvement in response times.';
    const report = anchor(
      [
        event([
          { quote: 'Caching layer is done! ... Performance tests show 3.2x improvement', chunk_index: 0 },
        ]),
      ],
      [chunk(0, text)],
    );
    assert.equal(
      report.events[0]!.evidence[0]!.quote,
      'Caching layer is done! :tada: Performance tests show 3.2x improvement',
    );
  });

  test('a quote found in another chunk points to that chunk, with offsets into the whole text', () => {
    const first = 'Alice presented the Q1 roadmap to the team.';
    const second = 'Later, Bob decided to prioritize the caching work.';
    const content = `${first}\n${second}`;
    const chunks = [chunk(0, first), chunk(1, second, first.length + 1)];
    const report = anchor(
      [event([{ quote: 'Bob decided to prioritize the caching work', chunk_index: 0 }])],
      chunks,
    );
    const [evidence] = report.events[0]!.evidence;
    assert.equal(evidence!.chunkIndex, 1);
    assert.equal(evidence!.chunkId, 'art_x::1');
    assert.equal(evidence!.startChar, content.indexOf('Bob'));
    assert.equal(content.slice(evidence!.startChar, evidence!.endChar), evidence!.quote);
  });

  test('offsets index the whole revision text for quotes deep in a late chunk of a real chunking', () => {
    const paragraph = (i: number) =>
      `Paragraph ${i} 🚀 covers routine status updates about onboarding, hiring and the offsite agenda.`;
    const lines = Array.from({ length: 400 }, (_, i) => paragraph(i));
    lines.splice(380, 0, 'Near the end, Carol decided to retire the legacy billing API in May.');
    const content = lines.join('\n');
    const chunks = chunkText(content, {
      singlePieceMaxTokens: 1200,
      targetTokens: 900,
      overlapTokens: 100,
    }).chunks.map((c) => chunk(c.index, c.text, c.startChar));
    assert.ok(chunks.length >= 10, `${chunks.length} chunks`);
    const last = chunks.at(-1)!;
    const report = anchor(
      [
        event([{ quote: 'carol decided to retire the legacy billing API in May', chunk_index: last.index }]),
        event([{ quote: 'Paragraph 399 🚀 covers routine status updates', chunk_index: last.index }]),
      ],
      chunks,
    );
    assert.equal(report.events.length, 2);
    for (const anchored of report.events) {
      const [evidence] = anchored.evidence;
      assert.ok(evidence!.startChar > chunks[9]!.startChar, 'far past the start of the first chunk');
      assert.equal(content.slice(evidence!.startChar, evidence!.endChar), evidence!.quote);
    }
    assert.equal(report.events[0]!.evidence[0]!.startChar, content.indexOf('Carol decided'));
  });

  test('the same span found through two overlapping chunks is kept once', () => {
    const content = 'Intro. Bob decided to ship on Friday. Outro.';
    const chunks = [chunk(0, content.slice(0, 38)), chunk(1, content.slice(7), 7)];
    const report = anchor(
      [
        event([
          { quote: 'Bob decided to ship on Friday.', chunk_index: 0 },
          { quote: 'Bob decided to ship on Friday.', chunk_index: 1 },
        ]),
      ],
      chunks,
    );
    assert.equal(report.events[0]!.evidence.length, 1);
    assert.equal(report.events[0]!.evidence[0]!.startChar, 7);
  });

  test('the named chunk wins when the quote is in several', () => {
    const text = 'Overlap: Bob decided to ship.';
    const chunks = [chunk(0, text), chunk(1, text, 5)];
    const report = anchor([event([{ quote: 'Bob decided to ship.', chunk_index: 1 }])], chunks);
    assert.equal(report.events[0]!.evidence[0]!.chunkIndex, 1);
    assert.equal(report.events[0]!.evidence[0]!.startChar, 5 + text.indexOf('Bob'));
  });

  test('invented quotes and unknown chunks are dropped, and events left without evidence too', () => {
    const text = 'Alice decided we will launch on April 1st.';
    const chunks = [chunk(0, text)];
    const report = anchor(
      [
        event([
          { quote: 'Alice decided we will launch on April 1st', chunk_index: 0 },
          { quote: 'Alice also promised a pony', chunk_index: 0 },
        ]),
        event([{ quote: 'The board vetoed the launch', chunk_index: 0 }], 'invented'),
        event([{ quote: 'Alice decided', chunk_index: 7 }], 'no such chunk'),
        event([{ quote: '   ', chunk_index: 0 }], 'blank quote'),
      ],
      chunks,
    );
    assert.equal(report.events.length, 1);
    assert.equal(report.events[0]!.evidence.length, 1);
    assert.equal(report.droppedEvidence, 4);
    assert.equal(report.droppedEvents, 3);
  });

  test('repeated evidence within an event is kept once', () => {
    const text = 'Bob decided to prioritize the caching work.';
    const report = anchor(
      [
        event([
          { quote: 'Bob decided to prioritize the caching work.', chunk_index: 0 },
          { quote: 'bob decided to prioritize the caching work.', chunk_index: 0 },
        ]),
      ],
      [chunk(0, text)],
    );
    assert.equal(report.events[0]!.evidence.length, 1);
    assert.equal(report.droppedEvidence, 0);
  });

  test('a quote of more than 25 words is cut to its first 25, still an exact slice', () => {
    const words = Array.from({ length: 40 }, (_, i) => `word${i}`);
    const text = `Before. ${words.join(' \n ')} After.`;
    const chunks = [chunk(0, text)];
    const report = anchor([event([{ quote: words.join(' '), chunk_index: 0 }])], chunks);
    const [evidence] = report.events[0]!.evidence;
    assert.equal(evidence!.quote.split(/\s+/).length, MAX_QUOTE_WORDS);
    assert.ok(evidence!.quote.startsWith('word0 '));
    assert.ok(evidence!.quote.endsWith('word24'));
    assert.equal(evidence!.startChar, text.indexOf('word0'));
  });

  test('words are counted with every Unicode space, as Postgres may split them', () => {
    // 30 words joined by no-break and ideographic spaces: more than 25 by any count.
    const words = Array.from({ length: 30 }, (_, i) => `w${i}`);
    const text = words.map((w, i) => (i % 2 === 0 ? `${w}\u00a0` : `${w}\u3000`)).join('');
    const report = anchor([event([{ quote: text.trim(), chunk_index: 0 }])], [chunk(0, text)]);
    const quote = report.events[0]!.evidence[0]!.quote;
    assert.equal(quote.split(/\s+/).length, MAX_QUOTE_WORDS);
  });

  test('emoji and CJK: offsets are UTF-16 indices and never split a surrogate pair', () => {
    const text = '決定しました 🚀 We Decided to ship 🎉 today. 中文测试：我们决定采用免费增值定价。';
    const chunks = [chunk(0, text)];
    const report = anchor(
      [
        event([{ quote: 'we decided  to ship 🎉 TODAY', chunk_index: 0 }]),
        event([{ quote: '我们决定采用免费增值定价', chunk_index: 0 }]),
        // Half of the rocket's surrogate pair, as a careless slicer might produce.
        event([{ quote: `${'🚀'.slice(1)} We Decided`, chunk_index: 0 }]),
      ],
      chunks,
    );
    assert.equal(report.events.length, 3);
    assert.equal(report.events[0]!.evidence[0]!.quote, 'We Decided to ship 🎉 today');
    assert.equal(report.events[0]!.evidence[0]!.startChar, text.indexOf('We Decided'));
    assert.equal(report.events[1]!.evidence[0]!.startChar, text.indexOf('我们'));
    assert.equal(report.events[2]!.evidence[0]!.quote, '🚀 We Decided');
  });

  test('case folding that changes length (ß, İ) still maps to the source', () => {
    const text = 'Die Straße wurde GESPERRT. İstanbul office approved.';
    const report = anchor(
      [event([{ quote: 'die STRASSE wurde gesperrt', chunk_index: 0 }])],
      [chunk(0, text)],
    );
    assert.equal(report.events[0]!.evidence[0]!.quote, 'Die Straße wurde GESPERRT');
  });

  test('a pathological quote against a 900-token chunk is rejected quickly', () => {
    const text = `${'a '.repeat(1800)}b`;
    const quote = `${'a '.repeat(999)}c`;
    const ellipses = Array.from({ length: 200 }, () => 'a a a x').join(' ... ');
    // CPU time of this process, not wall-clock time: on a busy machine the test process may get a
    // fraction of a core, which says nothing about the matcher. Catastrophic backtracking, which
    // this test guards against, costs seconds to minutes of CPU.
    const started = process.cpuUsage();
    const report = anchor(
      [
        event([{ quote, chunk_index: 0 }]),
        event([{ quote: `${ellipses} ... c`, chunk_index: 0 }]),
        // Occurs thousands of times, never on word boundaries.
        event([{ quote: 'x'.repeat(1000), chunk_index: 2 }]),
      ],
      [chunk(0, text), chunk(1, text, 10), chunk(2, 'x'.repeat(3600), 20)],
    );
    const used = process.cpuUsage(started);
    const ms = (used.user + used.system) / 1000;
    assert.equal(report.events.length, 0);
    assert.equal(report.droppedEvents, 3);
    assert.ok(ms < 500, `took ${ms.toFixed(1)} ms of CPU`);
  });
});
