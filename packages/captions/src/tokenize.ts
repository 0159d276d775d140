/**
 * Lower-cases and splits a caption into words and punctuation marks: "petals, yellow." ->
 * ["petals", ",", "yellow", "."]. Apostrophes stay inside words ("flower's").
 */
export function tokenize(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9]+(?:'[a-z]+)*|[^\sa-z0-9]/g) ?? [];
}
