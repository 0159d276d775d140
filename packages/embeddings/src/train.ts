import { log, progressBar, Rng } from '@t2i/core';
import { createHash } from 'node:crypto';
import {
  tf,
} from '@t2i/backends';
import { assertFinite, checkpointToResume, disposeCheckpoint, MetricsLog, saveCheckpoint, StepRunner, WeightAverage } from '@t2i/gan';
import { autoencoderBatch, importedTensor, indexTraining, jointBatch } from './batches.ts';
import type { EmbeddingsConfig } from './config.ts';
import type { EmbeddingData } from './data.ts';
import { contrastiveLoss, maskedTokenLoss } from './losses.ts';
import type { EncoderModels } from './models.ts';
import { Seq2Seq } from './seq2seq.ts';
import { averageCaptions } from './text-encoder.ts';

/**
 * The phases of training, in order. joint: text and image encoders together. seq2seq: the
 * autoencoder alone, then an image encoder fitted to its frozen sentence space (needed only to
 * measure that space and for R-precision later). import: a text encoder fitted to the imported
 * vectors (so that the reference captions and new sentences can be encoded), then the image
 * encoder, likewise.
 */
export type Phase = 'joint' | 'autoencoder' | 'text-fit' | 'image';

export function phasesOf(config: EmbeddingsConfig): { phase: Phase; epochs: number }[] {
  switch (config.encoder) {
    case 'seq2seq':
      return [
        { phase: 'autoencoder', epochs: config.epochs },
        { phase: 'image', epochs: config.imageEpochs },
      ];
    case 'import':
      return [
        { phase: 'text-fit', epochs: config.epochs },
        { phase: 'image', epochs: config.imageEpochs },
      ];
    case 'joint':
      return [{ phase: 'joint', epochs: config.epochs }];
  }
}

/** The learning rate at `progress` (0 to 1) through a phase. */
export function learningRateAt(config: Pick<EmbeddingsConfig, 'learningRate' | 'lrSchedule'>, progress: number): number {
  return config.lrSchedule === 'cosine' ? (config.learningRate * (1 + Math.cos(Math.PI * progress))) / 2 : config.learningRate;
}

// tfjs's Adam reads its learning rate at every update but declares it protected.
const setLearningRate = (optimizer: tf.AdamOptimizer, lr: number) => ((optimizer as unknown as { learningRate: number }).learningRate = lr);

export interface TrainOptions {
  checkpointDir: string;
  metrics: MetricsLog;
  /** Start afresh even if checkpoints exist. */
  restart: boolean;
}

interface Position {
  phase: number;
  epoch: number;
  step: number;
}

export async function trainEncoders(models: EncoderModels, data: EmbeddingData, config: EmbeddingsConfig, options: TrainOptions): Promise<void> {
  const index = indexTraining(data);
  const rng = new Rng(config.seed ^ 0x5eed);
  const phases = phasesOf(config);
  const stepsPerEpoch = Math.ceil(index.trainImages / config.batchSize);
  let at: Position = { phase: 0, epoch: 0, step: 0 };
  let optimizer = tf.train.adam(config.learningRate, 0.9, 0.999);
  const average = config.weightAverage ? new WeightAverage(models.store, config.weightAverage) : undefined;

  // A checkpoint of another model or other data is not resumed: epochs may grow, nothing else.
  // The words and images themselves, not their counts: one word changed shifts the ids of the rest.
  const digest = (items: string[]) => createHash('sha256').update(items.join('\n')).digest('hex');
  const identity = JSON.stringify({ ...config, epochs: 0, imageEpochs: 0, name: '', vocab: digest(data.vocab.json.tokens), images: digest(data.images.ids) });
  const saved = await checkpointToResume(options.checkpointDir, identity, models.store, options.restart, 'embeddings', [options.metrics.file]);
  if (saved) {
    models.store.load(saved.weights);
    await models.store.restoreOptimizer(optimizer, saved.optimizer);
    at = saved.meta.position as Position;
    rng.seedState = saved.meta.rng as number;
    // One update a step, in every phase: the count is the position's step.
    average?.load(saved.weights, at.step);
    disposeCheckpoint(saved);
    await options.metrics.resumeAt(at.step);
    log(`embeddings: resuming after ${phases[at.phase]?.phase ?? "the last"} epoch ${at.epoch} (step ${at.step}) from ${options.checkpointDir}`);
  } else {
    await options.metrics.reset();
  }

  const imageVars = models.store.listScope('image');
  const textVars = models.store.list().filter((v) => !imageVars.includes(v));

  for (; at.phase < phases.length; at = { phase: at.phase + 1, epoch: 0, step: at.step }) {
    const { phase, epochs } = phases[at.phase];
    if (at.epoch >= epochs) continue;
    if (at.epoch === 0 && at.phase > 0) {
      optimizer.dispose();
      optimizer = tf.train.adam(config.learningRate, 0.9, 0.999);
    }
    const vars = phase === 'joint' ? models.store.list() : phase === 'image' ? imageVars : textVars;
    const runner = new StepRunner();
    const loss = (): tf.Scalar => {
      if (phase === 'autoencoder') {
        const batch = autoencoderBatch(data, index, config.batchSize, config.wordDropout, rng);
        return maskedTokenLoss((models.text as Seq2Seq).reconstruct(batch.tokens, batch.decoderInput), batch.target, batch.mask);
      }
      const joint = phase === 'joint';
      const captions = joint ? config.captionsPerImage : 1;
      const batch = jointBatch(
        data,
        index,
        {
          size: config.batchSize,
          wordDropout: phase === 'image' ? 0 : config.wordDropout,
          captionsPerImage: captions,
          captionsFrom: joint ? (config.captionsFrom ?? 'image') : 'image',
          imagesPerClass: joint ? (config.imagesPerClass ?? 1) : 1,
          colourJitter: config.colourJitter ?? 0,
        },
        rng,
      );
      const imported = data.captions.imported ? importedTensor(data, batch.captionRows) : undefined;
      if (phase === 'text-fit') return contrastiveLoss(models.text.encode(batch.tokens), imported!, config.temperature);
      // In the image phase only image variables are in `vars`, so the text side stays frozen.
      return contrastiveLoss(imported ?? averageCaptions(models.text.encode(batch.tokens), captions), models.image.encode(batch.pixels), config.temperature);
    };

    const phaseStart = at.step - at.epoch * stepsPerEpoch;
    for (; at.epoch < epochs; at.epoch++) {
      const bar = progressBar(`embeddings ${phase} epoch ${at.epoch + 1}/${epochs}`, stepsPerEpoch, 'steps');
      const started = performance.now();
      let sum = 0;
      // The bar's timer would keep a failed run's process alive: stop it whatever happens.
      try {
        for (let s = 0; s < stepsPerEpoch; s++) {
          setLearningRate(optimizer, learningRateAt(config, (at.step - phaseStart) / (epochs * stepsPerEpoch)));
          const cost = runner.run(() => optimizer.minimize(loss, true, vars)!);
          const value = (await cost.data())[0];
          cost.dispose();
          average?.update();
          at.step++;
          assertFinite({ loss: value }, at.step);
          sum += value;
          bar.tick(1, { loss: value });
        }
      } finally {
        bar.stop();
      }
      const seconds = (performance.now() - started) / 1000;
      options.metrics.append({ step: at.step, phase, epoch: at.epoch + 1, loss: sum / stepsPerEpoch, seconds });
      log(`embeddings ${phase} epoch ${at.epoch + 1}/${epochs}: loss ${(sum / stepsPerEpoch).toFixed(4)}, ${seconds.toFixed(1)} s`);
      const next = { ...at, epoch: at.epoch + 1 };
      await saveCheckpoint(options.checkpointDir, { step: at.step, weights: { ...models.store.snapshot(), ...average?.snapshot() }, optimizer: await models.store.optimizerState(optimizer), meta: { position: next, rng: rng.seedState, config, identity } }, 2);
    }
  }
  optimizer.dispose();
  if (average) {
    average.apply();
    average.dispose();
  }
}
