/**
 * Lower-cases and splits a caption into words and punctuation marks: "petals, yellow." ->
 * ["petals", ",", "yellow", "."]. Apostrophes stay inside words ("flower's"). Letters are any
 * script's, so a user's "pétales" is one (unknown) word, not "p", "é", "tales"; Reed's captions
 * are ASCII, so the vocabulary is the same either way.
 */
export function tokenize(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+(?:'\p{L}+)*|[^\s\p{L}\p{N}]/gu) ?? [];
}
