/**
 * What the server tells the page in models.json: which models it draws with and where their
 * tensor folders are, relative to the page. Written by server.ts (Node), read by app.ts (browser).
 */
import type { ModelFolders, Stage } from '../text-to-image.ts';

export interface ServedModels {
  kind: 'trained' | 'shipped';
  /** The folder they come from, as the person who started the server knows it (data, models). */
  where: string;
  /** The stage the page draws up to: 2 when a Stage II model is there. */
  stage: Stage;
  /** Tensor folders, relative to the page. */
  folders: ModelFolders;
  /** What models/manifest.json says of shipped models. */
  shipped?: { dataset: string; stage1Epoch: number; plannedEpochs: number };
  /** Why there is no Stage II, where there is none. */
  note?: string;
}

/** The page's line about its models, as `t2i generate` says it (describeModels), with the epochs the loaded generators record. */
export function describeServed(m: ServedModels, epochs: { stage1: number; stage2?: number }): string {
  const stage2 = epochs.stage2 === undefined ? '' : `, Stage II epoch ${epochs.stage2}`;
  if (m.kind === 'trained') return `trained under ${m.where}/ (Stage I epoch ${epochs.stage1}${stage2})`;
  const s = m.shipped!;
  return `shipped in ${m.where}/ (${s.dataset}; Stage I epoch ${s.stage1Epoch} of ${s.plannedEpochs} planned${stage2}; no pipeline has trained models under data/ yet)`;
}
