/**
 * Conversational recall on the shared LoCoMo conversations (../shared/benchmarks/README.md,
 * "conversations"): every turn stored with history_append, every question asked of
 * history_search, next to plain BM25 over the same turn texts in the same run.
 *
 * One fresh store (database and Chroma) per conversation. The fusion's tuning is chosen on the
 * TUNE conversations and reported on the HELD_OUT ones as well: a figure tuned and reported on
 * the same questions says little about questions nobody has seen.
 *
 *   npm run build && node dist/bench/conversations.js [--quick]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { historyChannels } from '../src/domain/history.js';
import {
  fuseRecall,
  RECALL_TUNING,
  type RecallLists,
  type RecallTuning,
} from '../src/domain/search/recall.js';
import { startTestServer } from '../test/helpers/server.js';
import { type BenchResult, isMainModule, mean, percentile, runAsScript } from './result.js';

const DIR = fileURLToPath(new URL('../../../shared/benchmarks/conversations/', import.meta.url));
/** Conversations the tuning is chosen on; the others are held out. */
const TUNE = ['locomo-26', 'locomo-30', 'locomo-41'];

interface DialogTurn {
  speaker: string;
  dia_id: string;
  text: string;
  blip_caption?: string;
}

interface Question {
  question: string;
  evidence: string[];
  category: number;
}

interface StoredTurn {
  diaId: string;
  turnIndex: number;
  speaker: string;
  role: 'user' | 'assistant';
  content: string;
  ts: string;
}

const MONTHS = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];

/** "1:56 pm on 8 May, 2023" → ISO 8601 (UTC). */
function sessionTime(text: string): string {
  const m = /(\d{1,2}):(\d{2})\s*(am|pm)\s+on\s+(\d{1,2})\s+(\w+),?\s+(\d{4})/i.exec(text);
  if (m === null) throw new Error(`unreadable session time: ${text}`);
  const hour = (Number(m[1]) % 12) + (m[3]!.toLowerCase() === 'pm' ? 12 : 0);
  const month = MONTHS.indexOf(m[5]!.toLowerCase());
  return new Date(Date.UTC(Number(m[6]), month, Number(m[4]), hour, Number(m[2]))).toISOString();
}

function loadConversation(file: string): { id: string; turns: StoredTurn[]; questions: Question[] } {
  const data = JSON.parse(readFileSync(`${DIR}${file}`, 'utf8')) as Record<string, unknown>;
  const speakerA = String(data.speaker_a);
  const sessions = Object.keys(data)
    .map((key) => /^session_(\d+)$/.exec(key))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  const turns: StoredTurn[] = [];
  for (const n of sessions) {
    const ts = sessionTime(String(data[`session_${n}_date_time`]));
    for (const turn of data[`session_${n}`] as DialogTurn[]) {
      turns.push({
        diaId: turn.dia_id,
        turnIndex: turns.length,
        speaker: turn.speaker,
        role: turn.speaker === speakerA ? 'user' : 'assistant',
        content: `${turn.speaker}: ${turn.text}${turn.blip_caption ? ` [shares a photo: ${turn.blip_caption}]` : ''}`,
        ts,
      });
    }
  }
  const known = new Set(turns.map((t) => t.diaId));
  const questions = (data.qa as Array<Question & { evidence: unknown[] }>)
    .map((q) => ({
      question: String(q.question),
      category: Number(q.category),
      evidence: q.evidence
        .flatMap((e) => String(e).split(/[;,]\s*/))
        .map((e) => e.trim())
        .filter((e) => known.has(e)),
    }))
    .filter((q) => q.evidence.length > 0);
  return { id: file.replace(/\.json$/, ''), turns, questions };
}

/** The baseline of the protocol: Okapi BM25 (k1 1.2, b 0.75), lower-cased words, a small stop list, no stemming. */
const STOP = new Set(
  'a an and are as at be but by did do does for from had has have he her his how i in is it its me my of on or our she so that the their them they this to was we were what when where which who why will with you your'.split(
    ' ',
  ),
);
const words = (text: string) => (text.toLowerCase().match(/[a-z0-9]+/g) ?? []).filter((w) => !STOP.has(w));

function plainBm25(turns: readonly StoredTurn[]): (query: string) => number[] {
  const docs = turns.map((t) => words(t.content));
  const avgdl = mean(docs.map((d) => d.length));
  const df = new Map<string, number>();
  for (const doc of docs) for (const w of new Set(doc)) df.set(w, (df.get(w) ?? 0) + 1);
  const tfs = docs.map((doc) => {
    const tf = new Map<string, number>();
    for (const w of doc) tf.set(w, (tf.get(w) ?? 0) + 1);
    return tf;
  });
  const n = docs.length;
  return (query) => {
    const terms = [...new Set(words(query))];
    const scores = docs.map((doc, i) => {
      let score = 0;
      for (const term of terms) {
        const tf = tfs[i]!.get(term) ?? 0;
        if (tf === 0) continue;
        const d = df.get(term)!;
        const idf = Math.log(1 + (n - d + 0.5) / (d + 0.5));
        score += (idf * tf * 2.2) / (tf + 1.2 * (1 - 0.75 + (0.75 * doc.length) / avgdl));
      }
      return score;
    });
    return scores
      .map((score, i) => [score, i] as const)
      .filter(([score]) => score > 0)
      .sort((a, b) => b[0] - a[0] || a[1] - b[1])
      .slice(0, 10)
      .map(([, i]) => i);
  };
}

interface Scores {
  r5: number;
  r10: number;
  mrr: number;
}

function scoreTop(top: readonly number[], evidence: ReadonlySet<number>): Scores {
  const inTop = (k: number) => top.slice(0, k).filter((i) => evidence.has(i)).length / evidence.size;
  const first = top.slice(0, 10).findIndex((i) => evidence.has(i));
  return { r5: inTop(5), r10: inTop(10), mrr: first >= 0 ? 1 / (first + 1) : 0 };
}

/** One question's measurements, with what every system ranked. */
interface Asked {
  conversation: string;
  category: number;
  evidence: Set<number>;
  bm25: number[];
  lists: RecallLists;
  product: number[];
}

const indexOfTurnId = (id: string) => Number(id.slice(id.lastIndexOf('_turn_') + '_turn_'.length));

function fusedTop(lists: RecallLists, tuning: RecallTuning, turnCount: number): number[] {
  return fuseRecall(lists, tuning)
    .map((entry) => indexOfTurnId(entry.key))
    .filter((i) => i >= 0 && i < turnCount)
    .slice(0, 10);
}

function average(asked: readonly Asked[], top: (q: Asked) => number[]): Scores {
  const all = asked.map((q) => scoreTop(top(q), q.evidence));
  return {
    r5: mean(all.map((s) => s.r5)),
    r10: mean(all.map((s) => s.r10)),
    mrr: mean(all.map((s) => s.mrr)),
  };
}

const CATEGORY = ['', 'multi-hop', 'temporal', 'open-domain', 'single-hop', 'adversarial'];

export async function run(options: { quick: boolean }): Promise<BenchResult[]> {
  const files = readdirSync(DIR)
    .filter((f) => /^locomo-.*\.json$/.test(f))
    .sort();
  const asked: Asked[] = [];
  const turnCounts = new Map<string, number>();
  const appendMs: number[] = [];
  const searchMs: number[] = [];
  for (const file of files) {
    const conversation = loadConversation(file);
    turnCounts.set(conversation.id, conversation.turns.length);
    const t = await startTestServer();
    try {
      const conversationId = conversation.id;
      for (const turn of conversation.turns) {
        const started = performance.now();
        const answer = await t.call('history_append', {
          conversation_id: conversationId,
          turn_index: turn.turnIndex,
          role: turn.role,
          speaker: turn.speaker,
          content: turn.content,
          ts: turn.ts,
        });
        appendMs.push(performance.now() - started);
        if (answer.isError) throw new Error(JSON.stringify(answer.data));
      }
      await t.db.sql`analyze conversation_turn`;
      const bm25 = plainBm25(conversation.turns);
      const byDia = new Map(conversation.turns.map((turn) => [turn.diaId, turn.turnIndex]));
      const questions = options.quick ? conversation.questions.slice(0, 40) : conversation.questions;
      for (const q of questions) {
        const started = performance.now();
        const answer = await t.call('history_search', {
          query: q.question,
          conversation_id: conversationId,
          limit: 10,
        });
        searchMs.push(performance.now() - started);
        if (answer.isError) throw new Error(JSON.stringify(answer.data));
        const product = (answer.data.turns as Array<{ turn_index: number }>).map((turn) => turn.turn_index);
        const lists = await historyChannels(t.server.services, {
          query: q.question,
          conversation_id: conversationId,
          limit: 10,
        });
        asked.push({
          conversation: conversationId,
          category: q.category,
          evidence: new Set(q.evidence.map((e) => byDia.get(e)!)),
          bm25: bm25(q.question),
          lists,
          product,
        });
      }
    } finally {
      await t.stop();
    }
  }

  const scored = asked.filter((q) => q.category >= 1 && q.category <= 4);
  const tuneSet = scored.filter((q) => TUNE.includes(q.conversation));
  const heldOut = scored.filter((q) => !TUNE.includes(q.conversation));
  const turnsOf = (q: Asked) => turnCounts.get(q.conversation)!;

  // The grid of tunings, each scored on the tuning conversations only.
  const grid: RecallTuning[] = [];
  for (const k of [5, 10, 20, 60])
    for (const vectorWeight of [0, 0.1, 0.25, 0.5, 1])
      for (const vectorGate of [Number.POSITIVE_INFINITY, 10, 1])
        for (const neighbourWeight of [0, 0.25, 0.5, 0.75, 1])
          if (vectorWeight > 0 || vectorGate === Number.POSITIVE_INFINITY)
            grid.push({ k, vectorWeight, vectorGate, neighbourWeight });
  const gridScores = grid
    .map((tuning) => ({
      tuning,
      tune: average(tuneSet, (q) => fusedTop(q.lists, tuning, turnsOf(q)).slice()),
    }))
    .sort((a, b) => b.tune.r5 - a.tune.r5 || b.tune.r10 - a.tune.r10);
  const best = gridScores[0]!.tuning;
  const describe = (t: RecallTuning) =>
    `k ${t.k}, vector weight ${t.vectorWeight}${Number.isFinite(t.vectorGate) ? ` when BM25 finds < ${t.vectorGate}` : ''}, neighbours ${t.neighbourWeight}`;

  const systems: Array<[string, (q: Asked) => number[]]> = [
    ['BM25 (protocol baseline: no stemming)', (q) => q.bm25],
    [
      'BM25 in Postgres alone (stemmed, product lexical channel)',
      (q) => q.lists.lexical.map(indexOfTurnId).slice(0, 10),
    ],
    ['vectors alone (offline embedder)', (q) => q.lists.vectors.map(indexOfTurnId).slice(0, 10)],
    [
      'plain RRF k 60 of BM25 and vectors',
      (q) =>
        fusedTop(
          q.lists,
          { k: 60, vectorWeight: 1, vectorGate: Number.POSITIVE_INFINITY, neighbourWeight: 0 },
          turnsOf(q),
        ),
    ],
    [`history_search as shipped (${describe(RECALL_TUNING)})`, (q) => q.product],
    [`best of the grid on the tuning set (${describe(best)})`, (q) => fusedTop(q.lists, best, turnsOf(q))],
  ];
  const f3 = (x: number) => Number(x.toFixed(3));
  const rows: BenchResult['rows'] = [];
  for (const [name, top] of systems) {
    const all = average(scored, top);
    const tune = average(tuneSet, top);
    const held = average(heldOut, top);
    const row: Record<string, string | number> = {
      system: name,
      'R@5 all': f3(all.r5),
      'R@10 all': f3(all.r10),
      'MRR@10 all': f3(all.mrr),
      'R@5 tuning': f3(tune.r5),
      'R@5 held out': f3(held.r5),
      'R@10 held out': f3(held.r10),
    };
    for (const c of [1, 2, 3, 4])
      row[`R@5 ${CATEGORY[c]}`] = f3(
        average(
          scored.filter((q) => q.category === c),
          top,
        ).r5,
      );
    row['R@5 adversarial (cat 5)'] = f3(
      average(
        asked.filter((q) => q.category === 5),
        top,
      ).r5,
    );
    rows.push(row);
  }
  const baseline = average(scored, (q) => q.bm25);
  const shipped = average(scored, (q) => q.product);
  const top5 = gridScores
    .slice(0, 5)
    .map(
      (g) =>
        `${describe(g.tuning)}: R@5 tuning ${f3(g.tune.r5)}, held out ${f3(average(heldOut, (q) => fusedTop(q.lists, g.tuning, turnsOf(q))).r5)}`,
    );
  return [
    {
      name: `conversational recall on LoCoMo (${files.length} conversations, ${scored.length} questions of categories 1-4${options.quick ? ', quick: 40 per conversation' : ''})`,
      rows,
      notes: [
        `tuning conversations: ${TUNE.join(', ')}; held out: ${files
          .map((f) => f.replace(/\.json$/, ''))
          .filter((id) => !TUNE.includes(id))
          .join(', ')}`,
        `history_search / BM25 baseline, R@5 over all: ${f3(shipped.r5 / baseline.r5)}x (goal: R@5 >= max(0.62, BM25 + 0.10) = ${f3(Math.max(0.62, baseline.r5 + 0.1))})`,
        `grid (${grid.length} tunings), the 5 best on the tuning set: ${top5.join('; ')}`,
        `history_append over MCP: p50 ${percentile(appendMs, 0.5).toFixed(1)} ms, p95 ${percentile(appendMs, 0.95).toFixed(1)} ms; history_search: p50 ${percentile(searchMs, 0.5).toFixed(1)} ms, p95 ${percentile(searchMs, 0.95).toFixed(1)} ms`,
      ],
    },
  ];
}

if (isMainModule(import.meta.url)) await runAsScript(run);
