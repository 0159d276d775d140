import { requireArtifact } from '@t2i/core';
import { tf } from '@t2i/backends';
import { loadTensors } from '@t2i/gan';
import { Vocabulary, type VocabJson } from 'captions';
import { buildModels, encoderDir, type EmbeddingsConfig } from 'embeddings';
import path from 'node:path';

/**
 * The image side of the trained sentence encoder (data/embeddings/encoder), which maps a 64x64
 * image into the caption space: what R-precision ranks captions with. SentenceEncoder loads the
 * text side alone, so the whole saved model is rebuilt here.
 */
export async function loadJointImageEncoder(dir = encoderDir()) {
  requireArtifact(path.join(dir, 'tensors.json'), 'pnpm turbo run embeddings');
  const { groups, meta } = await loadTensors(dir);
  const models = buildModels(meta.config as EmbeddingsConfig, new Vocabulary(meta.vocab as VocabJson).size);
  models.store.load(groups.weights);
  tf.dispose(Object.values(groups.weights));
  return {
    dim: models.dim,
    /** [n, 64, 64, 3] in [-1, 1] -> [n, dim], unit length. */
    encode: (images: tf.Tensor4D) => models.image.encode(images),
    dispose: () => models.store.dispose(),
  };
}
export type JointImageEncoder = Awaited<ReturnType<typeof loadJointImageEncoder>>;
