import { tokenize } from './tokenize.ts';

export const PAD = '<pad>';
export const UNK = '<unk>';
export const BOS = '<bos>';
export const EOS = '<eos>';
export const SPECIALS = [PAD, UNK, BOS, EOS] as const;

export interface VocabJson {
  /** Id = position. The first four are <pad>, <unk>, <bos>, <eos>. */
  tokens: string[];
  /** Occurrences in the training-class captions, by token (0 for the specials). */
  counts: number[];
  minCount: number;
  builtFrom: string;
}

/**
 * Words seen in training-class captions only, so that test-class captions meet unknown words as
 * a user's own sentence would. Any word outside it encodes as <unk>.
 */
export class Vocabulary {
  private readonly ids: Map<string, number>;

  constructor(readonly json: VocabJson) {
    this.ids = new Map(json.tokens.map((t, i) => [t, i]));
  }

  static build(captions: Iterable<string>, minCount = 1): Vocabulary {
    const counts = new Map<string, number>();
    let n = 0;
    for (const caption of captions) {
      n++;
      for (const token of tokenize(caption)) counts.set(token, (counts.get(token) ?? 0) + 1);
    }
    const kept = [...counts].filter(([, c]) => c >= minCount).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    return new Vocabulary({
      tokens: [...SPECIALS, ...kept.map(([t]) => t)],
      counts: [...SPECIALS.map(() => 0), ...kept.map(([, c]) => c)],
      minCount,
      builtFrom: `${n} training-class captions`,
    });
  }

  get size(): number {
    return this.json.tokens.length;
  }

  id(token: string): number {
    return this.ids.get(token) ?? this.ids.get(UNK)!;
  }

  token(id: number): string {
    return this.json.tokens[id] ?? UNK;
  }

  encode(text: string): Int32Array {
    return this.encodeTokens(tokenize(text));
  }

  encodeTokens(tokens: string[]): Int32Array {
    return Int32Array.from(tokens, (t) => this.id(t));
  }

  /** The words of a sentence that the vocabulary does not know. */
  unknownWords(text: string): string[] {
    return this.unknownTokens(tokenize(text));
  }

  unknownTokens(tokens: string[]): string[] {
    return tokens.filter((t) => !this.ids.has(t));
  }
}
