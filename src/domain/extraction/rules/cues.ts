/**
 * The cue phrases of the rules extractor: which words say that a sentence is a decision, a
 * commitment, a risk..., how strongly, and which words of a heading or list intro say what the
 * items under it are. Kept apart from the code that applies them so the vocabulary can be read
 * and tuned in one place (classify.ts scores a sentence with them).
 */
import type { Category } from '../types.js';

export interface Cue {
  category: Category;
  weight: number;
  pattern: RegExp;
  /** The cue reports something that happened: ignore it after "not", "will", "to" and the like. */
  factual?: boolean;
}

const cue = (category: Category, weight: number, pattern: RegExp, factual = false): Cue => ({
  category,
  weight,
  pattern,
  factual,
});

/**
 * General English cue phrases. Weights: 0.8 an explicit statement of the category ("decided",
 * "shipped", "risk"), 0.7 a typical but less explicit one, 0.6 and below a hint that needs
 * support (a heading, a deadline) to make an event on its own.
 */
export const CUES: readonly Cue[] = [
  // Decision
  cue(
    'Decision',
    0.8,
    /\b(?:decided|decides|decide to|agreed (?:to|on|upon|that)|(?:has|have) agreed|we(?: will|'ll| shall) go with|go(?:ing)? with (?:option|plan|the|a|an)\b|opted (?:for|to)|settled on|signed off|approved|greenlit|green-lit|chose|chosen|selected|ruled out|rejected|vetoed|the decision (?:is|was) to|final decision|made the (?:call|decision))\b/i,
    true,
  ),
  cue(
    'Decision',
    0.7,
    /\b(?:let's (?:do it|go with|go ahead|proceed|move forward)|go ahead with|(?:takes?|took|taking|given|giving|gets?) (?:top )?priority over|(?:de-?)?prioriti[sz](?:e|ed|es|ing)\b)/i,
    true,
  ),
  cue('Decision', 0.6, /\bconfirm(?:ed|s)\b/i, true),
  cue('Decision', 0.5, /\b(?:decision|approval)\b/i),
  // Commitment
  cue(
    'Commitment',
    0.8,
    /\b(?:committed to|commits? to|promised? to|pledged? to|will make sure|i'll make sure|i'll take care|i'll handle|take ownership|taking ownership|(?:is|are) responsible for|assigned to|volunteered to|signed up to|action item)\b/i,
  ),
  cue(
    'Commitment',
    0.7,
    /\b(?:i|we)(?:'ll| will| shall|'m going to|'re going to| am going to| are going to)\b/i,
  ),
  cue(
    'Commitment',
    0.7,
    /\(\s*\p{Lu}\p{Ll}+ (?:leading|owning|driving|delivering|handling|responsible)\s*\)|\b(?:asked|assigned|tasked) \p{Lu}\p{Ll}+ to\b/u,
  ),
  cue('Commitment', 0.6, /\b(?:deadline|due (?:date|by|on)|ETA)\b/i),
  cue(
    'Commitment',
    0.55,
    /\bwill (?!be able\b|likely\b|probably\b|not\b|need\b|have to\b|be a\b|be an\b|be the\b|become\b|require\b|help\b|make it\b)\p{L}+/iu,
  ),
  // Execution
  cue(
    'Execution',
    0.8,
    /\b(?:shipped|deployed|launched|released|rolled out|went live|(?:is|are) (?:now )?live|completed|finished|delivered|implemented|merged|migrated|fixed|wrapped up|closed out|published|submitted|installed|upgraded|configured|built|prepared|drafted|sent out|finali[sz]ed)\b/i,
    true,
  ),
  cue('Execution', 0.75, /\b(?:is|are|was|were|now|all|got|\d+%) (?:done|complete)\b/i, true),
  // QualityRisk
  cue(
    'QualityRisk',
    0.8,
    /\b(?:risks?|at risk|risky|concerns?|concerned|worried|worries|blockers?|blocked|bottlenecks?|bugs?|regressions?|outages?|incidents?|vulnerabilit(?:y|ies)|(?:might|may|could|will) slip|slipping|delays?|delayed|behind schedule|over budget|insufficient|not (?:be )?(?:sufficient|enough)|flagged)\b/i,
  ),
  cue(
    'QualityRisk',
    0.7,
    /\b(?:(?:\d+|one|two|three|four|five|a few|several) (?:extra|additional|more) (?:days?|weeks?|months?)|might not|may not|could fail|won't be able|can't handle|cannot handle|issues?|problems?|failing|failed|broken|crash(?:es|ed)?|flaky|tight timeline)\b/i,
  ),
  // Feedback
  cue(
    'Feedback',
    0.75,
    /\b(?:feedback|liked|loved|disliked|hated|complained|complaints?|praised|critici[sz]ed|suggested|suggestions?|recommend(?:s|ed)?|requested|asked for|wished|happy with|pleased with|unhappy|frustrat(?:ed|ing)|satisfied)\b/i,
  ),
  cue('Feedback', 0.6, /\b(?:great (?:job|work)|nice work|well done|kudos)\b/i),
  cue('Feedback', 0.5, /\b(?:prefer(?:s|red)?|preference)\b/i),
  // Change
  cue(
    'Change',
    0.8,
    /\b(?:changed|switched|switching|moved (?:from|to)|migrat(?:e|ing) (?:from|to)|replaced|replacing|instead of|postponed|rescheduled|pushed (?:back|out)|moved up|brought forward|renamed|reverted|rolled back|pivoted|no longer|descoped|de-scoped|(?:reduced|increased|cut|raised|lowered|extended) (?:from|by|to|until)|paused|cancell?ed|scope change)\b/i,
    true,
  ),
  cue(
    'Change',
    0.85,
    /\b(?:moved|shifted|pushed|changed|switched|migrated) (?:\S+ ){0,4}?from \S+(?: \S+)? to\b/i,
    true,
  ),
  cue('Change', 0.6, /\b(?:instead|(?:was|were|has been|have been) (?:revised|updated|moved))\b/i, true),
  // Stakeholder
  cue(
    'Stakeholder',
    0.8,
    /\b(?:needs? sign-?off|sign-?off from|(?:need|needs|require|requires) (?:your |their |his |her )?approval|approval from|escalat(?:e|ed|ing|ion)|buy-in|(?:customer|client)s? (?:asked|requested|wants?|needs?|complained|reported))\b/i,
  ),
  cue('Stakeholder', 0.7, /\b(?:stakeholders?|sponsors?)\b/i),
  cue('Stakeholder', 0.6, /\b(?:executives?|leadership|the board|board meeting|VP|CEO|CTO|CFO|COO)\b/),
  // Collaboration
  cue(
    'Collaboration',
    0.75,
    /\b(?:worked with|working with|work with|paired|pairing|pair (?:with|on|up)|together with|collaborat\w*|synced with|sync with|sync up|teamed up|partnered|jointly|helped|helping|with help from|checking with|check with|met with|coordinat\w* with|handed off to|hand off to)\b/i,
  ),
  cue('Collaboration', 0.6, /\bsync\b/i),
];

/** Preceding words that make a factual cue not (yet) a fact: "not deployed", "will be approved". */
export const NOT_HAPPENED =
  /\b(?:not|never|n't|yet to|will|would|should|must|could|might|may|to|once|when|until|if|unless)\s+(?:(?:be|been|have|get|got|being)\s+)?(?:\S+\s+)?$/i;

/** A sentence that only says the previous one was decided ("This was decided in today's sync."). */
export const BACK_REFERENCE =
  /^(?:this|that|it|which) (?:was|has been|had been|is) (?:decided|agreed|approved|confirmed)\b/i;
export const PRONOUN_START = /^(?:he|she|they|it|this|that|these|those|which)\b/i;
/** Categories in order of preference when two score the same (and no heading decides). */
export const PRIORITY: readonly Category[] = [
  'Decision',
  'Commitment',
  'QualityRisk',
  'Execution',
  'Change',
  'Stakeholder',
  'Feedback',
  'Collaboration',
];

/** Words of a heading or list intro that say what the items under it are. */
const HINTS: readonly [Category, RegExp][] = [
  [
    'Commitment',
    /\b(?:action items?|next steps?|to-?dos?|tasks?|assignments?|follow[- ]?ups?|deliverables?|commitments?|owners?)\b/i,
  ],
  ['Decision', /\b(?:decisions?|decided|resolutions?|outcomes?|conclusions?|agreements?|agreed)\b/i],
  ['QualityRisk', /\b(?:risks?|concerns?|issues?|blockers?|problems?|bugs?|open questions?)\b/i],
  ['Feedback', /\b(?:feedback|comments?|suggestions?|retrospective|retro|lessons learned|reactions?)\b/i],
  ['Change', /\b(?:changes?|modifications?|amendments?|revisions?|changelog)\b/i],
  ['Execution', /\b(?:status|progress|updates?|accomplishments?|completed|done|shipped|achievements?)\b/i],
  ['Stakeholder', /\b(?:stakeholders?|sponsors?|customers?|clients?|approvals?)\b/i],
  ['Collaboration', /\b(?:collaboration|partners?|partnerships?|dependencies)\b/i],
];

export function hintOf(text: string): Category | null {
  for (const [category, pattern] of HINTS) if (pattern.test(text)) return category;
  return null;
}

/**
 * Labels that name the category of the sentence they open ("Decision: We will use Postgres.",
 * "- Open risk: ...", "**Action items**: ..."): the whole label is one of these words, with at
 * most one word before it. A field ("Budget: ..."), a status line ("Update: ...", which reports
 * anything) or a name is not among them.
 */
const LABEL_KINDS: readonly [Category, RegExp][] = [
  ['Decision', /^(?:decisions?|decided|resolutions?|resolved|agreed|agreements?)$/i],
  [
    'Commitment',
    /^(?:actions?|action items?|to-?dos?|to do|tasks?|next steps?|follow[- ]?ups?|commitments?|deliverables?|assignments?)$/i,
  ],
  ['QualityRisk', /^(?:risks?|concerns?|issues?|blockers?|blocked|problems?|bugs?|incidents?)$/i],
  ['Execution', /^(?:done|completed?|shipped|delivered|released|launched|accomplishments?)$/i],
  ['Change', /^(?:changes?|changed|amendments?|revisions?|modifications?)$/i],
  ['Feedback', /^(?:feedback|suggestions?|comments?|kudos|praise|complaints?)$/i],
  ['Stakeholder', /^(?:stakeholders?|sign-?offs?|approvals? (?:needed|required)|escalations?|escalated)$/i],
  ['Collaboration', /^(?:collaboration|pairing|hand-?offs?)$/i],
];

/** The category a line's label names, or null (see LABEL_KINDS). */
export function labelCategory(label: string): Category | null {
  const words = label.trim().split(/\s+/);
  // "Action item" is two words of a kind; "Open risk" and "Scope change" one word before one;
  // "Not done" is no report of anything done.
  const candidates = /^(?:not|no|non)$/i.test(words[0] ?? '')
    ? []
    : [words.join(' '), words.slice(1).join(' ')];
  for (const [category, pattern] of LABEL_KINDS) {
    if (candidates.some((candidate) => pattern.test(candidate))) return category;
  }
  return null;
}

/** Verbs that open a to-do ("Complete the refactor", "Send the draft"). */
export const TASK_VERB =
  /^(?:complete|finish|finali[sz]e|send|share|review|set up|setup|deliver|schedule|update|prepare|draft|write|fix|investigate|follow up|create|build|test|deploy|check|confirm|book|organi[sz]e|document|present|contact|call|email|draft|ship|merge|implement|migrate|design|plan|coordinate|run|add|remove|provide|submit|sign|get|make|own|lead|drive|look into|reach out|talk to|sync|circulate|publish|release|clean up|refactor|research|evaluate|estimate|assess|analy[sz]e|identify|collect|gather|arrange|finalise|reply|respond|ping)\b/i;
