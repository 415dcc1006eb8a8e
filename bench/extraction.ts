/**
 * Extraction benchmark: the 7-document corpus of benchmarks/extraction, scored as
 * benchmarks/README.md says. Each document is turned into the `ExtractionInput` the worker would
 * build (meetings → transcript, emails → email, decisions → doc, conversations → chat; chunks from
 * `chunkText` with the default policy), run through the `rules` extractor and `anchorEvents`,
 * and compared with events.json.
 *
 * Matching: an extracted event matches a ground-truth event when the categories are equal and one
 * of its anchored evidence quotes shares at least half of the words of the shorter of the two
 * quotes (sets of lower-cased alphanumeric words). Each extracted event matches at most one
 * ground-truth event and vice versa: we take a MAXIMUM bipartite matching (augmenting paths), so
 * the figure does not depend on the order events come out in. The greedy count (extracted events
 * in order, each taking the first free ground truth it matches) is printed next to it.
 *
 *   npm run build && node dist/bench/extraction.js [--data dir] [--verbose] [--repeat 20] [--scale 200]
 *
 * `--scale N` also times one synthetic document made of the corpus repeated N times (chunked).
 * The artifact's ts is the document's `Date:` line, as a client would send it in `source_ts`.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { anchorEvents } from '../src/domain/extraction/anchor.js';
import { createRulesExtractor } from '../src/domain/extraction/rules/rules.js';
import type {
  AnchoredEvent,
  Category,
  ExtractionInput,
  SourceChunk,
} from '../src/domain/extraction/types.js';
import { CATEGORIES } from '../src/domain/extraction/types.js';
import { chunkText } from '../src/text/chunking.js';

interface GroundTruthEvent {
  id: string;
  category: Category;
  narrative: string;
  actor: string | null;
  evidence_quote: string;
}

interface GroundTruth {
  documents: Record<string, { events: GroundTruthEvent[] }>;
}

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/benchmarks/extraction' },
    verbose: { type: 'boolean', default: false },
    repeat: { type: 'string', default: '20' },
    scale: { type: 'string', default: '200' },
  },
});

const ARTIFACT_TYPES: Record<string, string> = {
  meetings: 'transcript',
  emails: 'email',
  decisions: 'doc',
  conversations: 'chat',
};
const CHUNK_POLICY = { singlePieceMaxTokens: 1200, targetTokens: 900, overlapTokens: 100 };

function hex16(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** The ExtractionInput the worker would build for `content` ingested as `artifactType`. */
function buildInput(key: string, artifactType: string, content: string): ExtractionInput {
  const artifactUid = `uid_${hex16(`bench:${key}`)}`;
  const { chunks, isChunked } = chunkText(content, CHUNK_POLICY);
  const sourceChunks: SourceChunk[] = chunks.map((chunk) => ({
    chunkId: isChunked ? `${artifactUid}::${chunk.index}` : null,
    index: chunk.index,
    startChar: chunk.startChar,
    endChar: chunk.endChar,
    text: chunk.text,
  }));
  const date = /^Date:\s*(\d{4}-\d{2}-\d{2})\s*$/m.exec(content)?.[1];
  return {
    artifactUid,
    revisionId: `rev_${hex16(content)}`,
    artifactType,
    title: /^Subject:\s*(.+)$/m.exec(content)?.[1] ?? null,
    author: null,
    participants: [],
    ts: date === undefined ? null : new Date(`${date}T00:00:00Z`),
    content,
    chunks: sourceChunks,
  };
}

function words(text: string): Set<string> {
  return new Set(text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []);
}

function quotesMatch(a: Set<string>, b: Set<string>): boolean {
  const shorter = Math.min(a.size, b.size);
  if (shorter === 0) return false;
  let shared = 0;
  for (const word of a) if (b.has(word)) shared++;
  return shared * 2 >= shorter;
}

function isMatch(event: AnchoredEvent, truth: GroundTruthEvent): boolean {
  if (event.category !== truth.category) return false;
  const truthWords = words(truth.evidence_quote);
  return event.evidence.some((evidence) => quotesMatch(words(evidence.quote), truthWords));
}

/** Maximum bipartite matching (Kuhn's augmenting paths): extracted index → truth index. */
function maximumMatching(edges: number[][], truthCount: number): Map<number, number> {
  const truthOwner = new Array<number>(truthCount).fill(-1);
  const augment = (event: number, visited: boolean[]): boolean => {
    for (const truth of edges[event]!) {
      if (visited[truth]) continue;
      visited[truth] = true;
      if (truthOwner[truth] === -1 || augment(truthOwner[truth]!, visited)) {
        truthOwner[truth] = event;
        return true;
      }
    }
    return false;
  };
  for (let event = 0; event < edges.length; event++)
    augment(event, new Array<boolean>(truthCount).fill(false));
  const matching = new Map<number, number>();
  truthOwner.forEach((event, truth) => {
    if (event >= 0) matching.set(event, truth);
  });
  return matching;
}

function greedyMatches(edges: number[][]): number {
  const taken = new Set<number>();
  let count = 0;
  for (const candidates of edges) {
    const free = candidates.find((truth) => !taken.has(truth));
    if (free === undefined) continue;
    taken.add(free);
    count++;
  }
  return count;
}

interface Tally {
  extracted: number;
  truth: number;
  matches: number;
}

function prf({ extracted, truth, matches }: Tally): { p: number; r: number; f1: number } {
  const p = extracted === 0 ? 0 : matches / extracted;
  const r = truth === 0 ? 0 : matches / truth;
  return { p, r, f1: p + r === 0 ? 0 : (2 * p * r) / (p + r) };
}

function row(name: string, tally: Tally, extra = ''): string {
  const { p, r, f1 } = prf(tally);
  return [
    name.padEnd(50),
    String(tally.extracted).padStart(9),
    String(tally.truth).padStart(6),
    String(tally.matches).padStart(7),
    p.toFixed(3).padStart(9),
    r.toFixed(3).padStart(7),
    f1.toFixed(3).padStart(7),
    extra,
  ].join(' ');
}

const header = [
  'document'.padEnd(50),
  'extracted'.padStart(9),
  'truth'.padStart(6),
  'matches'.padStart(7),
  'precision'.padStart(9),
  'recall'.padStart(7),
  'F1'.padStart(7),
].join(' ');

async function main(): Promise<void> {
  const truth = JSON.parse(readFileSync(join(args.data, 'events.json'), 'utf8')) as GroundTruth;
  const extractor = createRulesExtractor();
  const repeat = Math.max(1, Number(args.repeat));

  const total: Tally = { extracted: 0, truth: 0, matches: 0 };
  const byCategory = new Map<Category, Tally>(
    CATEGORIES.map((c) => [c, { extracted: 0, truth: 0, matches: 0 }]),
  );
  let greedyTotal = 0;
  let droppedEvidence = 0;
  let droppedEvents = 0;
  const lines: string[] = [];
  const details: string[] = [];
  const inputs: ExtractionInput[] = [];

  for (const [key, document] of Object.entries(truth.documents)) {
    const folder = key.split('/')[0]!;
    const artifactType = ARTIFACT_TYPES[folder];
    if (artifactType === undefined) throw new Error(`${key}: unknown folder ${folder}`);
    const content = readFileSync(join(args.data, 'corpus', key), 'utf8');
    const input = buildInput(key, artifactType, content);
    inputs.push(input);
    const report = anchorEvents(await extractor.extract(input), input.chunks);
    droppedEvidence += report.droppedEvidence;
    droppedEvents += report.droppedEvents;

    const events = report.events;
    const edges = events.map((event) =>
      document.events.flatMap((expected, index) => (isMatch(event, expected) ? [index] : [])),
    );
    const matching = maximumMatching(edges, document.events.length);
    const greedy = greedyMatches(edges);
    greedyTotal += greedy;
    const tally = { extracted: events.length, truth: document.events.length, matches: matching.size };
    lines.push(row(`${key} (${artifactType}, ${input.chunks.length} chunk)`, tally, `greedy ${greedy}`));
    total.extracted += tally.extracted;
    total.truth += tally.truth;
    total.matches += tally.matches;
    for (const event of events) byCategory.get(event.category)!.extracted++;
    for (const expected of document.events) byCategory.get(expected.category)!.truth++;
    for (const [eventIndex] of matching) byCategory.get(events[eventIndex]!.category)!.matches++;

    if (args.verbose) {
      details.push(`\n== ${key}`);
      events.forEach((event, index) => {
        const matched = matching.get(index);
        const tag = matched === undefined ? '  FP ' : `  ok ${document.events[matched]!.id}`;
        details.push(
          `${tag.padEnd(16)} ${event.category.padEnd(13)} ${event.confidence.toFixed(2)} ${JSON.stringify(event.evidence[0]?.quote)}`,
        );
        details.push(
          `${''.padEnd(31)} time=${event.event_time} subject=${event.subject.type}:${event.subject.ref} actors=${event.actors.map((a) => `${a.ref}/${a.role}`).join(',')}`,
        );
        details.push(`${''.padEnd(31)} ${event.narrative}`);
      });
      const matchedTruth = new Set(matching.values());
      document.events.forEach((expected, index) => {
        if (!matchedTruth.has(index)) {
          details.push(
            `  MISS ${expected.id.padEnd(11)} ${expected.category.padEnd(13)} ${JSON.stringify(expected.evidence_quote)}`,
          );
        }
      });
    }
  }

  // Timing: extraction + anchoring of the whole corpus, best of `repeat` runs after a warm-up.
  const runCorpus = async (): Promise<void> => {
    for (const input of inputs) anchorEvents(await extractor.extract(input), input.chunks);
  };
  await runCorpus();
  let best = Number.POSITIVE_INFINITY;
  let sum = 0;
  for (let i = 0; i < repeat; i++) {
    const started = performance.now();
    await runCorpus();
    const ms = performance.now() - started;
    best = Math.min(best, ms);
    sum += ms;
  }

  console.log('Extraction benchmark: rules extractor + anchorEvents (matching: maximum bipartite)');
  console.log(header);
  for (const line of lines) console.log(line);
  console.log(row('OVERALL', total, `greedy ${greedyTotal}`));
  console.log('\nper category');
  console.log(header.replace('document'.padEnd(50), 'category'.padEnd(50)));
  for (const [category, tally] of byCategory) console.log(row(category, tally));
  console.log(`\nanchoring dropped ${droppedEvidence} evidence, ${droppedEvents} events`);
  const corpusChars = inputs.reduce((n, input) => n + input.content.length, 0);
  console.log(
    `timing: corpus (${inputs.length} documents, ${corpusChars} chars) extract + anchor best ${best.toFixed(2)} ms, ` +
      `mean ${(sum / repeat).toFixed(2)} ms over ${repeat} runs`,
  );

  const scale = Number(args.scale);
  if (scale > 0) {
    const big = Array.from({ length: scale }, (_, i) => inputs[i % inputs.length]!.content).join('\n\n');
    const started = performance.now();
    const input = buildInput('scale', 'doc', big);
    const chunked = performance.now();
    const events = await extractor.extract(input);
    const extracted = performance.now();
    const report = anchorEvents(events, input.chunks);
    const anchored = performance.now();
    console.log(
      `timing: synthetic document of ${big.length} chars (${input.chunks.length} chunks): chunking ${(chunked - started).toFixed(0)} ms, ` +
        `extract ${(extracted - chunked).toFixed(0)} ms (${events.length} events), anchor ${(anchored - extracted).toFixed(0)} ms ` +
        `(${report.events.length} kept, ${report.droppedEvidence} evidence dropped)`,
    );
  }
  if (args.verbose) console.log(details.join('\n'));
}

await main();
