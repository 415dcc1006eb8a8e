/**
 * The structure of a document as a person skims it: leading metadata lines, headings, list items
 * and their intros, chat speakers, paragraphs, and a line's leading `Label:`. The result is a list
 * of blocks, each carrying what its position says about it (the category a heading hints at, the
 * speaker, the label), so that a sentence is read with its context (step 1 of rules.ts).
 */
import type { Category, ExtractionInput } from '../types.js';
import { hintOf, labelCategory, TASK_VERB } from './cues.js';
import { findDates, utcDay } from './dates.js';
import {
  FULL_NAME_WILL,
  looksLikeName,
  NAME_IN_ROLE,
  NAME_TO_VERB,
  PERSON_VERB,
  personName,
  Roster,
} from './roster.js';

interface Line {
  start: number;
  end: number;
  text: string;
}

function splitLines(text: string, from: number, to: number): Line[] {
  const lines: Line[] = [];
  let start = from;
  for (;;) {
    let newline = text.indexOf('\n', start);
    if (newline < 0 || newline > to) newline = to;
    const end = newline > start && text[newline - 1] === '\r' ? newline - 1 : newline;
    lines.push({ start, end, text: text.slice(start, end) });
    if (newline >= to) break;
    start = newline + 1;
  }
  return lines;
}

/** Metadata keys of a document's leading `Key: value` lines. */
const META_KEYS = new Set(
  (
    'from,to,cc,bcc,subject,date,sent,time,when,where,location,attendees,participants,present,' +
    'absent,title,status,owner,owners,author,authors,decision maker,decision makers,decided by,' +
    'reviewers,approvers,approver,organizer,organiser,facilitator,note taker,channel,thread,' +
    'project,type,priority,version,tags,reply-to,re,meeting,team'
  ).split(','),
);
const PEOPLE_KEYS = new Set(
  (
    'from,to,cc,bcc,attendees,participants,present,owner,owners,author,authors,decision maker,' +
    'decision makers,decided by,reviewers,approvers,approver,organizer,organiser,facilitator,note taker'
  ).split(','),
);
const META_LINE = /^\s*([A-Za-z][A-Za-z .-]{0,30}?)\s*:\s*(.*)$/;
const HEADING = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/;
const ITEM = /^(\s*)(?:[-*•+‣◦▪]|\d{1,3}[.)]|[a-z][.)])\s+(?:\[[ xX]\]\s+)?/;
const CHAT_HEADER =
  /^\s*(?:\[[^\]\n]{1,30}\]\s*)?(@?[\p{L}][\p{L}\p{N}._-]{0,40}(?: \p{Lu}[\p{L}-]*){0,2})\s*:\s*$/u;
const TIMESTAMP = /^\s*\[[^\]\n]{1,30}\]/;
const LABEL = /^(?:\[[^\]\n]{1,30}\]\s*)?(\*\*|__)?([^:*_\n]{1,40}?)\1?\s*:\s+(?=\S)/;
const HANDLE = /^@?[\p{Ll}\d]+(?:[._][\p{Ll}\d]+)+$/u;

export interface Label {
  /** Where the label ends (after the colon and spaces). */
  end: number;
  text: string;
  /** The person the label names, or null for a field name ("Budget: ...") or a bold heading. */
  person: string | null;
  /** The category the label names ("Decision:", "Risk:"): of the sentence it opens only. */
  category: Category | null;
  bold: boolean;
}

export interface Block {
  start: number;
  end: number;
  isItem: boolean;
  hint: Category | null;
  speaker: string | null;
  label: Label | null;
}

export interface DocumentModel {
  blocks: Block[];
  roster: Roster;
  date: number | null;
  author: string | null;
}

/** A leading `Label:` of a line or item, and whether it names a person. */
function readLabel(text: string, from: number, to: number, roster: Roster, isItem: boolean): Label | null {
  const match = LABEL.exec(text.slice(from, Math.min(to, from + 80)));
  if (match === null) return null;
  const labelText = match[2]!.trim();
  const end = from + match[0].length;
  const bold = match[1] !== undefined;
  // A category word is no person, even before a to-do ("Blocker: fix the login bug by Friday").
  const category = labelCategory(labelText);
  if (category !== null) return { end, text: labelText, person: null, category, bold };
  const rest = text.slice(end, to);
  let person = roster.resolve(labelText);
  if (person === null && HANDLE.test(labelText)) person = personName(labelText);
  if (person === null && looksLikeName(labelText) && (isItem || TIMESTAMP.test(text.slice(from, to)))) {
    // An unknown capitalised word is a person when what follows reads like a to-do.
    if (TASK_VERB.test(rest) || findDates(rest, null).length > 0 || /\bby\b/.test(rest)) {
      person = roster.add(labelText);
    }
  }
  return { end, text: labelText, person, category: null, bold };
}

/**
 * Reads the structure of `text[from, to)`: metadata lines, headings, list items, chat speakers,
 * paragraphs. `roster` receives the people the metadata and the text name.
 */
export function readDocument(text: string, from: number, to: number, input: ExtractionInput): DocumentModel {
  const roster = new Roster();
  let author: string | null = null;
  if (input.author !== null) author = roster.add(input.author);
  for (const participant of input.participants) roster.add(participant);
  let date = input.ts === null || Number.isNaN(input.ts.getTime()) ? null : utcDay(input.ts);

  const lines = splitLines(text, from, to);
  // Leading metadata: `Key: value` lines with known keys, and a title line right above them.
  let first = 0;
  while (first < lines.length && lines[first]!.text.trim() === '') first++;
  let bodyStart = first;
  for (let i = first; i < lines.length; i++) {
    const line = lines[i]!;
    const meta = META_LINE.exec(line.text);
    const key = meta?.[1]?.trim().toLowerCase();
    const isMeta = key !== undefined && META_KEYS.has(key);
    const nextMeta = META_LINE.exec(lines[i + 1]?.text ?? '');
    const isTitle =
      i === first &&
      !isMeta &&
      nextMeta !== null &&
      META_KEYS.has(nextMeta[1]!.trim().toLowerCase()) &&
      !/[.!?]\s*$/.test(line.text) &&
      line.text.trim().split(/\s+/).length <= 12;
    if (!isMeta && !isTitle) break;
    bodyStart = i + 1;
    if (!isMeta || meta === null) continue;
    const value = meta[2]!.trim();
    if (key === 'date' || key === 'sent') {
      const parsed = Date.parse(value);
      if (date === null && !Number.isNaN(parsed)) date = utcDay(new Date(parsed));
    }
    if (key !== undefined && PEOPLE_KEYS.has(key)) {
      for (const part of value.split(/,|;|\band\b|\bwith input from\b|\bwith\b/)) {
        const added = roster.add(part);
        if (added !== null && key === 'from' && author === null) author = added;
      }
    }
  }

  // People named elsewhere: chat handles, @mentions, "Carol presented ...".
  const body = text.slice(lines[bodyStart]?.start ?? to, to);
  for (const m of body.matchAll(
    /(?:^|\n)\s*(?:\[[^\]\n]{1,30}\]\s*)?([\p{Ll}\d]+(?:[._][\p{Ll}\d]+)+)\s*:/gu,
  )) {
    roster.add(m[1]!);
  }
  for (const m of body.matchAll(/(?<![\p{L}\p{N}_])@([\p{Ll}\d]+(?:[._][\p{Ll}\d]+)+)/gu)) roster.add(m[1]!);
  for (const m of body.matchAll(NAME_IN_ROLE)) roster.add((m[1] ?? m[2])!);
  for (const m of body.matchAll(NAME_TO_VERB)) if (looksLikeName(m[1]!)) roster.add(m[1]!);
  for (const m of body.matchAll(FULL_NAME_WILL)) if (looksLikeName(m[1]!)) roster.add(m[1]!);
  for (const m of body.matchAll(PERSON_VERB)) if (looksLikeName(m[1]!)) roster.add(m[1]!);

  const blocks: Block[] = [];
  let section: Category | null = null;
  // The hint of the list intro above ("Risks:"), undefined when there is none: then the section's.
  let listHint: Category | null | undefined;
  let speaker: string | null = null;
  let current: Block | null = null;
  let previousBlank = true;
  const close = (): void => {
    current = null;
  };
  for (let i = bodyStart; i < lines.length; i++) {
    const line = lines[i]!;
    const trimmed = line.text.trim();
    if (trimmed === '') {
      previousBlank = true;
      if (current !== null && !(current as Block).isItem) close();
      continue;
    }
    const heading = HEADING.exec(line.text);
    if (heading !== null) {
      close();
      section = hintOf(heading[1]!);
      listHint = undefined;
      previousBlank = false;
      continue;
    }
    const chat = CHAT_HEADER.exec(line.text);
    if (chat !== null) {
      const name = chat[1]!;
      const resolved =
        TIMESTAMP.test(line.text) || HANDLE.test(name)
          ? (roster.resolve(name) ?? roster.add(name))
          : roster.resolve(name);
      if (resolved !== null || TIMESTAMP.test(line.text)) {
        close();
        speaker = resolved;
        previousBlank = false;
        continue;
      }
    }
    const item = ITEM.exec(line.text);
    const open: Block | null = current;
    if (item !== null) {
      const start = line.start + item[0].length;
      const hint = listHint !== undefined ? listHint : section;
      current = {
        start,
        end: line.end,
        isItem: true,
        hint,
        speaker,
        label: readLabel(text, start, line.end, roster, true),
      };
      blocks.push(current);
    } else if (open?.isItem && !previousBlank && (/^\s/.test(line.text) || /^\p{Ll}/u.test(trimmed))) {
      open.end = line.end;
    } else {
      const start = line.start + (line.text.length - line.text.trimStart().length);
      const label = readLabel(text, start, line.end, roster, false);
      const lineSpeaker = label?.person ?? null;
      // A line labelled with a category ("Decision: ...") opens a block, as a speaker's line does:
      // inside the paragraph above, its label would be lost and its sentence read as more of it.
      const labelled = label?.category != null;
      if (open === null || open.isItem || previousBlank || lineSpeaker !== null || labelled) {
        if (open?.isItem) listHint = undefined;
        current = {
          start,
          end: line.end,
          isItem: false,
          hint: section,
          speaker: lineSpeaker ?? speaker,
          label,
        };
        blocks.push(current);
      } else {
        open.end = line.end;
      }
      // A line ending in a colon introduces the list below it: its words hint at the items.
      if (trimmed.endsWith(':') && ITEM.test(nextNonBlank(lines, i + 1)?.text ?? '')) {
        listHint = hintOf(trimmed);
        close();
      }
    }
    previousBlank = false;
  }
  return { blocks, roster, date, author };
}

function nextNonBlank(lines: readonly Line[], from: number): Line | undefined {
  for (let i = from; i < lines.length; i++) if (lines[i]!.text.trim() !== '') return lines[i];
  return undefined;
}
