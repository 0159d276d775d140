import { z } from 'zod';

export const EmbeddingsConfig = z.object({
  /** joint: text CNN trained with an image CNN; seq2seq: the seed's caption autoencoder; import: vectors from a file. */
  encoder: z.enum(['joint', 'seq2seq', 'import']),
  /** Size of the sentence vector (joint); seq2seq's is seq2seqHidden. */
  dim: z.number().int().min(2),
  wordDim: z.number().int().min(2),
  textChannels: z.number().int().min(2),
  /** The joint text side: cnn, a word CNN pooled by a max over time; cnn-gru, the same CNN read by a GRU (Reed et al.'s CNN-RNN). cnn when absent. */
  textEncoder: z.enum(['cnn', 'cnn-gru']).optional(),
  /** With cnn-gru: the GRU's state size; half of textChannels when absent (the state side is sequential, so its width sets the GRU's cost). */
  gruHidden: z.number().int().min(2).optional(),
  /** Width of the image CNN's first layer; each later layer doubles it. */
  imageChannels: z.number().int().min(1),
  /** The image CNN: cnn4, four 4x4 stride-2 convolutions; cnn8, each followed by a 3x3 one of the same width. */
  imageEncoder: z.enum(['cnn4', 'cnn8']).default('cnn4'),
  /** The image side also reads the image's soft colour histograms (whole and centre-weighted), beside the CNN's features. */
  imageColours: z.boolean().optional(),
  /** With imageColours: levels of each RGB channel in the histograms (levels^3 bins); 4 when absent. */
  colourLevels: z.number().int().min(2).max(8).optional(),
  /**
   * Joint training: the text side of a pair is the mean of this many captions of its image
   * (Reed et al.'s caption averaging), closer to the class means that zero-shot ranks against.
   */
  captionsPerImage: z.number().int().min(1).max(10).default(1),
  /**
   * Joint training: those captions are the image's own (image), or each from a random image of its
   * class (class: Reed et al.'s class-level text side, closer to the class means zero-shot ranks against).
   */
  captionsFrom: z.enum(['image', 'class']).optional(),
  /**
   * Joint training: distinct images of each class in a batch (1 when absent). Above 1 an image's
   * siblings are among its negatives, so the encoders learn what tells one image of a class from another.
   */
  imagesPerClass: z.number().int().min(1).max(16).optional(),
  /** Training images' colour jitter keeping hue: saturation and brightness scaled within 1 ± this (0 when absent). */
  colourJitter: z.number().min(0).max(0.5).optional(),
  /**
   * Decay of an exponential moving average of the weights, taken after every update, which the
   * trained encoder then is (Polyak averaging); absent: the last weights.
   */
  weightAverage: z.number().min(0).max(0.99999).optional(),
  seq2seqHidden: z.number().int().min(2),
  /** Longer captions are cut (99% of Reed's captions have at most 28 tokens). */
  maxTokens: z.number().int().min(4),
  epochs: z.number().int().min(0),
  batchSize: z.number().int().min(2),
  learningRate: z.number().positive(),
  /** constant: Adam at learningRate throughout; cosine: each phase decays it to 0 along half a cosine. */
  lrSchedule: z.enum(['constant', 'cosine']).default('constant'),
  /** Softmax temperature of the contrastive loss. */
  temperature: z.number().positive(),
  /** Share of training tokens replaced by <unk>, so that unknown words at test time have a learnt meaning. */
  wordDropout: z.number().min(0).max(0.5),
  /** seq2seq only: epochs of the image encoder fitted to the frozen sentence space, for the quality figures. */
  imageEpochs: z.number().int().min(0),
  seed: z.number().int(),
  /** import only: an Arrow or .npy file of vectors, images x 10 captions x D. */
  importFile: z.string().optional(),
}).refine((c) => !(c.captionsFrom === 'class' && (c.imagesPerClass ?? 1) > 1), {
  message: "captionsFrom 'class' gives siblings captions of one class, so they cannot be told apart as negatives: use imagesPerClass 1 with it",
}).refine((c) => c.gruHidden === undefined || c.textEncoder === 'cnn-gru', {
  message: "gruHidden sizes the GRU of textEncoder 'cnn-gru', and this config has none: drop gruHidden or set textEncoder 'cnn-gru'",
});
export type EmbeddingsConfig = z.infer<typeof EmbeddingsConfig> & { name: string };
