/** Rounds a score for an answer: `digits` decimals are what a reader (or a model) can use. */
export function round(value: number, digits = 4): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
