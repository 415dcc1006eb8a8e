/** UTF-16 helpers shared by the tokenizer, the chunker and evidence anchoring. */

/** The first half of a surrogate pair (a code point above U+FFFF takes two UTF-16 units). */
export function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** The second half of a surrogate pair. */
export function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
