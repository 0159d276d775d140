import { tf } from '@t2i/backends';

/**
 * Symmetric contrastive loss over a batch of matching (text, image) pairs, one per class: row i
 * of each is a pair, every other row a negative. Both sides unit length; cosine similarities are
 * divided by `temperature`. Mean of the text->image and image->text cross-entropies.
 */
export function contrastiveLoss(text: tf.Tensor2D, image: tf.Tensor2D, temperature: number): tf.Scalar {
  return tf.tidy(() => {
    const logits = text.matMul(image, false, true).div(temperature) as tf.Tensor2D;
    const labels = tf.oneHot(tf.range(0, text.shape[0], 1, 'int32'), text.shape[0]);
    const t2i = tf.losses.softmaxCrossEntropy(labels, logits);
    const i2t = tf.losses.softmaxCrossEntropy(labels, logits.transpose());
    return t2i.add(i2t).div(2) as tf.Scalar;
  });
}

/**
 * Mean cross-entropy of next-token logits [batch, length, vocab] against targets [batch, length],
 * counting only positions where `mask` is 1 (real tokens and the closing <eos>).
 */
export function maskedTokenLoss(logits: tf.Tensor3D, targets: tf.Tensor2D, mask: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const [b, l, v] = logits.shape;
    const flat = logits.reshape([b * l, v]) as tf.Tensor2D;
    const logProbs = flat.sub(flat.logSumExp(1, true));
    const picked = tf.gather(logProbs.reshape([b * l * v]), tf.range(0, b * l, 1, 'int32').mul(tf.scalar(v, 'int32')).add(targets.reshape([b * l]).cast('int32')));
    const m = mask.reshape([b * l]);
    return picked.mul(m).sum().neg().div(m.sum().maximum(1)) as tf.Scalar;
  });
}
