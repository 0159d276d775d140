import { saveGenerator } from '@t2i/gan';
import { buildModels, saveEncoder } from 'embeddings';
import path from 'node:path';
import { buildStage1 } from 'stage1';
import { buildStage2 } from 'stage2';
import { syntheticData, tinyConfig } from '../../embeddings/test/fixtures.ts';
import { tinyStage1 } from '../../stage1/test/fixtures.ts';
import { tinyStage2 } from '../../stage2/test/fixtures.ts';
import { shipModels } from '../src/shipped.ts';

/**
 * Tiny untrained models in the layout a pipeline leaves under data/ (or $T2I_ARTIFACTS): the
 * encoder, Stage I at epoch 3 and, with `stage2`, Stage II at epoch 2 on that Stage I.
 */
export async function writeTinyModels(artifacts: string, { stage2 = false } = {}): Promise<void> {
  const data = syntheticData();
  const config = tinyConfig();
  const encoder = buildModels(config, data.vocab.size);
  await saveEncoder(path.join(artifacts, 'embeddings/encoder'), encoder, config, data.vocab, 'test-encoder');
  encoder.store.dispose();
  const stage1 = buildStage1(tinyStage1(), config.dim);
  await saveGenerator('stage1', path.join(artifacts, 'stage1'), stage1.store, { config: tinyStage1(), textDim: config.dim, encoder: 'test-encoder', epoch: 3 });
  stage1.store.dispose();
  if (!stage2) return;
  const models = buildStage2(tinyStage2(), config.dim);
  await saveGenerator('stage2', path.join(artifacts, 'stage2'), models.store, { config: tinyStage2(), textDim: config.dim, encoder: 'test-encoder', epoch: 2, stage1: { config: tinyStage1(), epoch: 3 } });
  models.store.dispose();
}

/**
 * writeTinyModels under `root`/trained, shipped into `root`/models as the release would be
 * (synthetic; Stage I epoch 3 of 10 planned; with `stage2`, Stage II epoch 2).
 */
export async function shipTinyModels(root: string, { stage2 = false } = {}): Promise<string> {
  const trained = path.join(root, 'trained');
  await writeTinyModels(trained, { stage2 });
  const models = path.join(root, 'models');
  await shipModels(
    {
      encoder: path.join(trained, 'embeddings/encoder'),
      stage1: path.join(trained, 'stage1/generator'),
      ...(stage2 && { stage2: path.join(trained, 'stage2/generator') }),
      about: {
        description: 'test',
        dataset: 'synthetic',
        encoder: { id: 'test-encoder', config: tinyConfig(), epochs: 1, trainingSeconds: 1 },
        stage1: { config: tinyStage1(), epoch: 3, plannedEpochs: 10, trainingSeconds: 2 },
        ...(stage2 && { stage2: { config: tinyStage2(), epoch: 2, trainingSeconds: 3 } }),
        scores: null,
      },
    },
    models,
  );
  return models;
}

/** evaluate's scores.json, cut to what decides whether a Stage I ships: its FID, the FID floor, class top-1 / top-5, the epoch scored. */
export const stage1Scores = (fid: number, floor: number, top1: number, top5: number, epoch?: number) => ({
  stages: { stage1: { ...(epoch !== undefined && { epoch }), fid: { value: fid }, classConsistency: { top1, top5 } } },
  real: { fidTrainVsTest: { value: floor } },
});

/** Where the models are looked for (T2I_ARTIFACTS, T2I_MODELS), as they are now; the function returned puts them back. */
export function keepModelEnv(): () => void {
  const saved = { T2I_ARTIFACTS: process.env.T2I_ARTIFACTS, T2I_MODELS: process.env.T2I_MODELS };
  return () => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
}
