import type { ParamStore } from '@t2i/gan';
import { tf } from '@t2i/backends';
import { l2normalize } from './text-encoder.ts';

/** Default levels of each RGB channel in the colour histogram: 4 x 4 x 4 = 64 colour bins. */
export const COLOUR_LEVELS = 4;

/** The most pixel x bin weights computed at once (64 MB of float32). */
const HISTOGRAM_ELEMENTS = 2 ** 24;

/** The bins' centres in [-1, 1]^3, r slowest, b fastest: [levels^3, 3]. */
function colourCentres(levels: number): tf.Tensor2D {
  const centres = Array.from({ length: levels }, (_, i) => -1 + (2 * i + 1) / levels);
  return tf.tensor2d(centres.flatMap((r) => centres.flatMap((g) => centres.map((b) => [r, g, b]))));
}

/**
 * Soft colour histograms of [batch, h, w, 3] images in [-1, 1]: each pixel's weight spread over
 * the levels^3 bins by exp(-sharpness * squared distance), normalised; the whole image's histogram
 * and one weighted towards the centre, where the flower usually is: [batch, 2 levels^3], each half
 * summing to 1. The sharpness scales with the bins' spacing (8 at 4 levels), so that a pixel halfway
 * between two levels weighs the same in both at any number of levels. Large batches are weighed in
 * slices of at most `maxElements` pixel x bin weights.
 * The captions name colours more than anything else, which a CNN trained from scratch learns slowly.
 */
export function colourHistograms(images: tf.Tensor4D, levels = COLOUR_LEVELS, maxElements = HISTOGRAM_ELEMENTS): tf.Tensor2D {
  const [b, h, w] = images.shape;
  // The pixel x bin weights of 256 images at 8 levels would take 512 MB a copy, and wasm's heap stops at 4 GB.
  const per = Math.max(1, Math.floor(maxElements / (h * w * levels ** 3)));
  if (b > per) {
    return tf.tidy(() => tf.concat(Array.from({ length: Math.ceil(b / per) }, (_, i) => colourHistograms(images.slice(i * per, Math.min(per, b - i * per)), levels, maxElements))));
  }
  return tf.tidy(() => {
    const centres = colourCentres(levels);
    const sharpness = levels ** 2 / 2;
    const pixels = images.reshape([b * h * w, 3]) as tf.Tensor2D;
    const d2 = pixels.square().sum(1, true).sub(pixels.matMul(centres, false, true).mul(2)).add(centres.square().sum(1));
    const soft = tf.softmax(d2.mul(-sharpness)).reshape([b, h * w, centres.shape[0]]);
    // A Gaussian of a third of the side around the centre.
    const ys = tf.linspace(-1, 1, h).reshape([h, 1]);
    const xs = tf.linspace(-1, 1, w).reshape([1, w]);
    const centre = ys.square().add(xs.square()).mul(-4.5).exp().reshape([1, h * w, 1]);
    const whole = soft.mean(1);
    const central = soft.mul(centre).sum(1).div(centre.sum());
    return tf.concat([whole, central], 1) as tf.Tensor2D;
  });
}

/**
 * The joint model's image side, trained from scratch on 64x64 crops: four 4x4 stride-2
 * convolutions with leaky ReLU (64 -> 4 px, width doubling from `channels`), each followed by
 * `depth - 1` 3x3 convolutions of its width, then a global average and a linear map into the
 * sentence space, L2-normalised. With `colourLevels`, the image's soft colour histograms at that
 * many levels per channel (at 32x32, square-rooted) join the pooled features before that map.
 */
export class ImageEncoder {
  private readonly convs: { w: tf.Variable; b: tf.Variable; stride: number }[] = [];
  private readonly out: tf.Variable;
  private readonly outBias: tf.Variable;
  private readonly colours?: tf.Variable;

  constructor(store: ParamStore, channels: number, dim: number, depth = 1, private readonly colourLevels = 0) {
    const s = store.scope('image');
    let inC = 3;
    for (let i = 0; i < 4; i++) {
      const outC = channels * 2 ** i;
      this.convs.push({ w: s.add(`conv${i + 1}`, [4, 4, inC, outC], { kind: 'glorot' }), b: s.add(`bias${i + 1}`, [outC], { kind: 'zeros' }), stride: 2 });
      for (let j = 1; j < depth; j++) {
        this.convs.push({ w: s.add(`conv${i + 1}_${j}`, [3, 3, outC, outC], { kind: 'glorot' }), b: s.add(`bias${i + 1}_${j}`, [outC], { kind: 'zeros' }), stride: 1 });
      }
      inC = outC;
    }
    this.out = s.add('out', [inC, dim], { kind: 'glorot' });
    this.outBias = s.add('outBias', [dim], { kind: 'zeros' });
    // Its own weights (not a wider `out`): an encoder without colours keeps its parameters and identity.
    if (colourLevels) this.colours = s.add('colours', [2 * colourLevels ** 3, dim], { kind: 'glorot' });
  }

  /** images: [batch, 64, 64, 3] in [-1, 1]. Returns [batch, dim], unit length. */
  encode(images: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      let h: tf.Tensor4D = images;
      for (const { w, b, stride } of this.convs) h = tf.leakyRelu(tf.conv2d(h, w as tf.Tensor4D, stride, 'same').add(b), 0.2) as tf.Tensor4D;
      const pooled = h.mean([1, 2]) as tf.Tensor2D;
      let out = pooled.matMul(this.out as tf.Tensor2D).add(this.outBias) as tf.Tensor2D;
      if (this.colours) out = out.add(colourHistograms(tf.avgPool(images, 2, 2, 'valid'), this.colourLevels).sqrt().matMul(this.colours as tf.Tensor2D));
      return l2normalize(out);
    });
  }
}
