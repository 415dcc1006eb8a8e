import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import * as v from 'valibot';
import { anchorEvents } from '../src/domain/extraction/anchor.js';
import { createRulesExtractor } from '../src/domain/extraction/rules/rules.js';
import {
  type AnchoredEvent,
  type Category,
  ExtractedEventSchema,
  type ExtractionInput,
  MAX_QUOTE_WORDS,
  type SourceChunk,
} from '../src/domain/extraction/types.js';
import { chunkText } from '../src/text/chunking.js';

/** No lone surrogate (String.prototype.isWellFormed is not in our TypeScript lib). */
function isWellFormed(text: string): boolean {
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);
}

function inputFor(content: string, overrides: Partial<ExtractionInput> = {}): ExtractionInput {
  return {
    artifactUid: 'uid_0000000000000000',
    revisionId: 'rev_0000000000000000',
    artifactType: 'note',
    title: null,
    author: null,
    participants: [],
    ts: new Date('2025-03-03T09:30:00Z'), // a Monday
    content,
    chunks: [{ chunkId: null, index: 0, startChar: 0, endChar: content.length, text: content }],
    ...overrides,
  };
}

/** Extracts, checks the shape every extractor must produce, anchors, and checks nothing was lost. */
async function extract(input: ExtractionInput): Promise<AnchoredEvent[]> {
  const events = await createRulesExtractor().extract(input);
  for (const event of events) {
    v.parse(ExtractedEventSchema, event);
    for (const evidence of event.evidence) {
      assert.ok(evidence.quote.trim().split(/\s+/).length <= MAX_QUOTE_WORDS, evidence.quote);
    }
  }
  const report = anchorEvents(events, input.chunks);
  assert.equal(report.droppedEvidence, 0, 'every rules quote is an exact slice');
  for (const event of report.events) {
    for (const evidence of event.evidence) {
      // Offsets index the revision text; the chunk named holds the span.
      const source = input.chunks.find((c) => c.index === evidence.chunkIndex)!;
      const [start, end] = [evidence.startChar - source.startChar, evidence.endChar - source.startChar];
      assert.equal(evidence.quote, source.text.slice(start, end));
    }
  }
  return report.events;
}

describe('rules extractor', () => {
  test('is named rules', () => {
    assert.equal(createRulesExtractor().name, 'rules');
  });

  test('a decision in a note becomes a Decision anchored on that sentence', async () => {
    const sentence = 'We decided to adopt freemium pricing for the starter plan.';
    const events = await extract(inputFor(`Pricing sync.\n\n${sentence} Lunch was good.`));
    const decisions = events.filter((e) => e.category === 'Decision');
    assert.equal(decisions.length, 1);
    const [decision] = decisions;
    assert.equal(decision!.evidence.length, 1);
    assert.equal(decision!.evidence[0]!.quote, sentence);
    assert.equal(decision!.evidence[0]!.startChar, `Pricing sync.\n\n`.length);
    assert.match(decision!.narrative, /freemium pricing/);
    assert.ok(decision!.confidence >= 0.5 && decision!.confidence <= 0.85);
    assert.deepEqual(decision!.subject, { type: 'object', ref: 'freemium pricing' });
  });

  test('a commitment with a relative date resolves against ts, and the participant is its owner', async () => {
    const input = inputFor(
      'Dana will send the signed contract by next Friday. Lee will review it tomorrow.',
      {
        participants: ['Dana Smith', 'lee.wong@example.com'],
      },
    );
    const events = await extract(input);
    assert.equal(events.length, 2);
    const [dana, lee] = events;
    assert.equal(dana!.category, 'Commitment');
    // ts is Monday 2025-03-03: "next Friday" is the Friday of the following week.
    assert.equal(dana!.event_time, '2025-03-14');
    assert.deepEqual(dana!.actors[0], { ref: 'Dana Smith', role: 'owner' });
    assert.equal(lee!.event_time, '2025-03-04');
    assert.deepEqual(lee!.actors[0], { ref: 'Lee Wong', role: 'owner' });
  });

  test('dates: absolute ones, relative ones, and none without ts', async () => {
    const text = [
      '- Ana: Finalize the budget by March 25th',
      '- Ben: Ship the beta by end of week',
      '- Cai: Draft the memo on 2025-04-02',
      '- Dee: Book the venue in two weeks',
    ].join('\n');
    const withTs = await extract(inputFor(`## Action Items\n${text}`));
    assert.deepEqual(
      withTs.map((e) => [e.category, e.event_time, e.actors[0]?.ref]),
      [
        ['Commitment', '2025-03-25', 'Ana'],
        ['Commitment', '2025-03-07', 'Ben'],
        ['Commitment', '2025-04-02', 'Cai'],
        ['Commitment', '2025-03-17', 'Dee'],
      ],
    );
    const withoutTs = await extract(inputFor(`## Action Items\n${text}`, { ts: null }));
    assert.deepEqual(
      withoutTs.map((e) => e.event_time),
      [null, null, '2025-04-02', null],
    );
  });

  test('a Date header stands in for a missing ts', async () => {
    const content = 'Subject: Sync\nDate: 2024-03-15\n\nBob: I will finish the API refactor tomorrow.';
    const [event] = await extract(inputFor(content, { ts: null, artifactType: 'transcript' }));
    assert.equal(event!.event_time, '2024-03-16');
  });

  test('speakers and e-mail authors become actors; "I" is rewritten in the narrative', async () => {
    const chat = [
      '[10:15 AM] david.park:',
      'Caching layer is done! Tests show a 3x speed-up.',
      '',
      '[10:18 AM] bob.smith:',
      'Nice. I will review the PR this afternoon.',
    ].join('\n');
    const events = await extract(inputFor(chat, { artifactType: 'chat' }));
    const execution = events.find((e) => e.category === 'Execution');
    assert.deepEqual(execution?.actors, [{ ref: 'David Park', role: 'owner' }]);
    const commitment = events.find((e) => e.category === 'Commitment');
    assert.deepEqual(commitment?.actors[0], { ref: 'Bob Smith', role: 'owner' });
    assert.equal(commitment?.narrative, 'Bob Smith will review the PR this afternoon.');
    assert.equal(commitment?.event_time, '2025-03-03');

    const email =
      'From: karen.liu@example.com\nTo: james@example.com\n\nJames,\n\nI have prepared the revised budget projections.';
    const [prepared] = await extract(inputFor(email, { artifactType: 'email' }));
    assert.equal(prepared!.category, 'Execution');
    assert.deepEqual(prepared!.actors[0], { ref: 'Karen Liu', role: 'owner' });
  });

  test('headings and list intros say what their items are', async () => {
    const content = [
      'Attendees: Emma Wilson, Frank Lee',
      '',
      '## Risks Identified',
      '- Database connection pooling may become a bottleneck',
      '- Vendor SLA is only 99.5%',
      '',
      '## Action Items',
      '- Emma: Set up auto-scaling by March 23rd',
      '- Frank: Send the timeline breakdown by Friday',
    ].join('\n');
    const events = await extract(inputFor(content, { artifactType: 'transcript' }));
    assert.deepEqual(
      events.map((e) => e.category),
      ['QualityRisk', 'QualityRisk', 'Commitment', 'Commitment'],
    );
    assert.deepEqual(events[2]!.actors[0], { ref: 'Emma Wilson', role: 'owner' });
    assert.equal(events[3]!.event_time, '2025-03-07');
    assert.equal(events[3]!.narrative, 'Frank Lee to send the timeline breakdown by Friday');
  });

  test('a labelled line: the label names its own sentence, the next sentence is its own event', async () => {
    const decision = 'Decision: We will use Postgres for event storage starting Monday.';
    const commitment = 'Alice Chen will deliver the migration plan by March 3, 2025.';
    const content = `${decision} ${commitment}`;
    const events = await extract(inputFor(content));
    assert.deepEqual(
      events.map((e) => e.category),
      ['Decision', 'Commitment'],
    );
    const [first, second] = events;
    assert.equal(first!.evidence[0]!.quote, decision);
    assert.equal(first!.narrative, 'We will use Postgres for event storage starting Monday.');
    assert.deepEqual(first!.subject, { type: 'object', ref: 'Postgres' });
    assert.equal(second!.evidence[0]!.quote, commitment);
    assert.deepEqual(second!.actors[0], { ref: 'Alice Chen', role: 'owner' });
    assert.equal(second!.event_time, '2025-03-03');
    for (const event of events) {
      const { quote, startChar, endChar } = event.evidence[0]!;
      assert.equal(quote, content.slice(startChar, endChar));
    }
  });

  test('each kind of label decides its sentence, not the different sentence after it', async () => {
    const cases: [label: string, labelled: string, next: string, categories: [Category, Category]][] = [
      [
        'Decision',
        'We will use Postgres for event storage.',
        'Alice Chen will deliver the migration plan by March 14.',
        ['Decision', 'Commitment'],
      ],
      [
        'Action item',
        'review the vendor contract by Friday.',
        'The vendor API is flaky under load.',
        ['Commitment', 'QualityRisk'],
      ],
      [
        'Risk',
        'The vendor has not answered our last three emails.',
        'We decided to keep the current vendor.',
        ['QualityRisk', 'Decision'],
      ],
      [
        'Done',
        'Billing export for the enterprise customers.',
        'The rollout to Europe is blocked by a bug.',
        ['Execution', 'QualityRisk'],
      ],
      [
        'Change',
        'Standups are now on Tuesdays at ten.',
        'We decided to cancel the Friday demo.',
        ['Change', 'Decision'],
      ],
      [
        'Feedback',
        'The new dashboard is much faster than the old one.',
        'Bob Smith will send the survey results by Friday.',
        ['Feedback', 'Commitment'],
      ],
      [
        'Stakeholder',
        'Legal wants to read the contract before we sign.',
        'We decided to wait for their review.',
        ['Stakeholder', 'Decision'],
      ],
      [
        'Collaboration',
        'Dana and Sam will split the parser work.',
        'The parser still crashes on empty files.',
        ['Collaboration', 'QualityRisk'],
      ],
    ];
    for (const [label, labelled, next, categories] of cases) {
      const content = `${label}: ${labelled} ${next}`;
      const events = await extract(inputFor(content));
      assert.deepEqual(
        events.map((e) => e.category),
        categories,
        content,
      );
      assert.deepEqual(
        events.map((e) => e.evidence[0]!.quote),
        [`${label}: ${labelled}`, next],
        content,
      );
      for (const event of events) {
        const { quote, startChar, endChar } = event.evidence[0]!;
        assert.equal(quote, content.slice(startChar, endChar));
      }
    }
  });

  test('a label followed by several sentences: a pronoun joins the event before it', async () => {
    const risk = 'Risk: The vendor API is flaky under load.';
    const commitment = 'Bob Smith will add retries by Friday. It should hide most of the failures.';
    const decision = 'We decided to keep the vendor for now.';
    const content = `${risk} ${commitment} ${decision}`;
    const events = await extract(inputFor(content));
    assert.deepEqual(
      events.map((e) => [e.category, e.evidence[0]!.quote]),
      [
        ['QualityRisk', risk],
        ['Commitment', commitment],
        ['Decision', decision],
      ],
    );
    assert.deepEqual(events[1]!.actors[0], { ref: 'Bob Smith', role: 'owner' });
    assert.equal(events[1]!.event_time, '2025-03-07');
  });

  test('labelled lines open their own block; qualified, bold and listed labels count; none is a person', async () => {
    const content = [
      'We met to plan the storage move.',
      'Final decision: We will use Postgres for event storage.',
      '**Open risk**: the driver release may slip a week.',
      '- Blocker: fix the login bug by Friday',
      '- Scope change: exports are out of the first release.',
      '- Action items: Carol to update the designs by March 7.',
    ].join('\n');
    const events = await extract(inputFor(content));
    assert.deepEqual(
      events.map((e) => e.category),
      ['Decision', 'QualityRisk', 'QualityRisk', 'Change', 'Commitment'],
    );
    const blocker = events[2]!;
    assert.equal(blocker.evidence[0]!.quote, 'Blocker: fix the login bug by Friday');
    assert.deepEqual(blocker.actors, []);
    assert.equal(blocker.narrative, 'fix the login bug by Friday');
    assert.deepEqual(events[4]!.actors[0], { ref: 'Carol', role: 'owner' });
    assert.deepEqual(events[4]!.subject, { type: 'object', ref: 'designs' });
  });

  test('sentence splitting keeps abbreviations, decimals and handles inside one sentence', async () => {
    const content =
      'Mr. Jones decided on v2.5 pricing, e.g. for @ann.lee and Dr. Who at 3.30 p.m. today. Nothing else.';
    const [event] = await extract(inputFor(content));
    assert.equal(event!.category, 'Decision');
    assert.equal(event!.evidence[0]!.quote, content.slice(0, content.indexOf(' Nothing')));
  });

  test('questions, greetings and metadata are not events', async () => {
    const content =
      'Subject: Decision needed\nStatus: Approved\n\nHi team,\n\nShould we switch to Postgres?\n\nThanks!';
    assert.deepEqual(await extract(inputFor(content)), []);
  });

  test('a long sentence gives a 25-word window around its cue', async () => {
    const filler = Array.from({ length: 30 }, (_, i) => `item${i}`).join(' ');
    const content = `After reviewing ${filler} the committee finally approved the new vendor contract for the next fiscal year.`;
    const [event] = await extract(inputFor(content));
    assert.equal(event!.category, 'Decision');
    const quote = event!.evidence[0]!.quote;
    assert.equal(quote.split(/\s+/).length, MAX_QUOTE_WORDS);
    assert.match(quote, /approved/);
  });

  test('emoji and CJK text: exact slices, no broken surrogate pairs', async () => {
    const content =
      '🚀 我们决定采用免费增值定价。 The team decided to ship 🎉 the onboarding flow. 😀😀 Bob shipped the fix 🐛 yesterday.';
    const events = await extract(inputFor(content));
    assert.deepEqual(
      events.map((e) => e.category),
      ['Decision', 'Execution'],
    );
    for (const event of events) assert.ok(isWellFormed(event.evidence[0]!.quote));
    const cjkOnly = '决定'.repeat(2000);
    for (const event of await extract(inputFor(cjkOnly))) assert.ok(isWellFormed(event.evidence[0]!.quote));
  });

  test('chunked revisions: evidence points to a chunk holding it, overlaps do not duplicate events', async () => {
    const paragraph = (i: number): string =>
      `Item ${i}: the team agreed to go with vendor ${i} for the rollout. Some discussion followed about many unrelated details of the plan.`;
    const content = Array.from({ length: 120 }, (_, i) => paragraph(i)).join('\n\n');
    const { chunks } = chunkText(content, {
      singlePieceMaxTokens: 1200,
      targetTokens: 900,
      overlapTokens: 100,
    });
    assert.ok(chunks.length > 1);
    const sourceChunks: SourceChunk[] = chunks.map((c) => ({ ...c, chunkId: `c${c.index}` }));
    const events = await extract(inputFor(content, { chunks: sourceChunks }));
    assert.equal(events.length, 120);
    const absolute = new Set(events.map((e) => e.evidence[0]!.startChar));
    assert.equal(absolute.size, 120);
    for (const e of events) {
      const evidence = e.evidence[0]!;
      assert.equal(content.slice(evidence.startChar, evidence.endChar), evidence.quote);
    }

    // Chunks that are not slices of `content` (say, content not loaded): each chunk is read on
    // its own and events of the overlap are kept once.
    const alone = await extract(inputFor('', { chunks: sourceChunks }));
    assert.equal(alone.length, 120);
  });

  test('deterministic, and uses no network', async () => {
    const originalFetch = globalThis.fetch;
    const originalConnect = net.Socket.prototype.connect;
    globalThis.fetch = () => {
      throw new Error('network used');
    };
    net.Socket.prototype.connect = () => {
      throw new Error('network used');
    };
    try {
      const content = 'Alice decided we will launch on April 1st. Bob will fix the login bug by Friday.';
      const first = await createRulesExtractor().extract(inputFor(content));
      const second = await createRulesExtractor().extract(inputFor(content));
      assert.deepEqual(first, second);
      assert.equal(first.length, 2);
    } finally {
      globalThis.fetch = originalFetch;
      net.Socket.prototype.connect = originalConnect;
    }
  });

  test('no chunks, no events', async () => {
    assert.deepEqual(await createRulesExtractor().extract(inputFor('We decided.', { chunks: [] })), []);
  });
});
