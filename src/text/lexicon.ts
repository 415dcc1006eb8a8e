/**
 * Word lists that more than one part of the code reads. They live here, in the leaf text layer,
 * so that a list has one spelling: the embedder and the rules extractor each import theirs
 * instead of carrying a copy that drifts.
 */

function wordSet(words: string): ReadonlySet<string> {
  return new Set(words.split(' '));
}

/**
 * Snowball's English stop words (the list of Postgres' 'english' configuration, which the
 * lexical channel uses), with apostrophes removed as the local embedder's tokeniser removes them.
 * Part of the local embedding space: changing it changes every vector (see local-embedder.ts).
 */
export const ENGLISH_STOP_WORDS = wordSet(
  'i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers ' +
    'herself it its itself they them their theirs themselves what which who whom this that these those am is ' +
    'are was were be been being have has had having do does did doing a an the and but if or because as until ' +
    'while of at by for with about against between into through during before after above below to from up ' +
    'down in out on off over under again further then once here there when where why how all any both each few ' +
    'more most other some such no nor not only own same so than too very s t can will just don should now ' +
    'dont doesnt didnt isnt arent wasnt werent cant wont shouldnt',
);

/**
 * Words at which the rules extractor stops reading a noun phrase (lower case): prepositions,
 * conjunctions, auxiliaries, pronouns and day words. Not a stop list: "the", "a" and "our" are
 * not here because they open a phrase ("the migration plan") rather than end one; the extractor
 * skips those separately before the phrase starts.
 */
export const NOUN_PHRASE_ENDS = wordSet(
  'over by before after until till on in at for from with to and but so because since which that as if ' +
    'when while than is are was were will would should can could may might has have had be been being ' +
    'this these those it its via per about into onto within without across against during who whom whose ' +
    'instead then today tomorrow yesterday tonight next last eod monday tuesday wednesday thursday friday ' +
    'saturday sunday',
);
