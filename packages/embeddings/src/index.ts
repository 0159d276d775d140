export { EmbeddingsConfig } from './config.ts';
export { encoderDir, loadSentenceEncoder, logReading, saveEncoder } from './encoder.ts';
export { requireOneSentenceSpace, SentenceEncoder, type SentenceSpace } from './sentence-encoder.ts';
export { embeddingsFile, referenceEmbeddingsFile, runEmbeddings } from './stage.ts';
export { loadEmbeddingData, type EmbeddingData } from './data.ts';
export { buildModels } from './models.ts';
export { contrastiveLoss, maskedTokenLoss } from './losses.ts';
export { measureQuality } from './quality.ts';
export { loadCaptionVectors, type CaptionVectors } from './vectors.ts';
