/**
 * The scores' arithmetic, in plain TypeScript on flat row-major arrays: Inception Score, FID,
 * R-precision, top-k agreement and the course's cosine score. Everything here is deterministic
 * and small (features of at most a few hundred dimensions), so no tensors are needed.
 */

export interface MeanStd {
  mean: number;
  std: number;
}

/** Population standard deviation, as numpy's np.std, which StackGAN's scripts report. */
export function meanStd(values: ArrayLike<number>): MeanStd {
  const n = values.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i];
  const mean = sum / n;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (values[i] - mean) ** 2;
  return { mean, std: Math.sqrt(sq / n) };
}

/** Row ranges of `splits` nearly equal consecutive parts, as StackGAN's inception_score.py cuts them. */
export function splitRanges(n: number, splits: number): [number, number][] {
  if (splits < 1 || splits > n) throw new RangeError(`cannot cut ${n} rows into ${splits} splits`);
  return Array.from({ length: splits }, (_, k) => [Math.floor((k * n) / splits), Math.floor(((k + 1) * n) / splits)]);
}

/**
 * StackGAN's inception_score.py with our classifier's p(y|x) in place of Inception's: in each of
 * `splits` consecutive parts, exp(mean over x of KL(p(y|x) || p(y))), p(y) the part's mean;
 * the mean and std over the parts. `probs` is [n, classes].
 */
export function inceptionScore(probs: Float32Array | Float64Array, classes: number, splits: number): MeanStd {
  const n = probs.length / classes;
  const scores = splitRanges(n, splits).map(([a, b]) => {
    const marginal = new Float64Array(classes);
    for (let i = a; i < b; i++) for (let c = 0; c < classes; c++) marginal[c] += probs[i * classes + c] / (b - a);
    let kl = 0;
    for (let i = a; i < b; i++) {
      for (let c = 0; c < classes; c++) {
        const p = probs[i * classes + c];
        // 0 log 0 = 0: a class the image rules out adds nothing.
        if (p > 0) kl += p * (Math.log(p) - Math.log(marginal[c]));
      }
    }
    return Math.exp(kl / (b - a));
  });
  return meanStd(scores);
}

export interface Gaussian {
  dim: number;
  mean: Float64Array;
  /** [dim, dim], row-major. */
  cov: Float64Array;
}

/** Mean and sample covariance (n - 1, as np.cov) of the rows of an [n, dim] matrix. */
export function gaussianOf(features: Float32Array | Float64Array, dim: number): Gaussian {
  const n = features.length / dim;
  if (n < 2) throw new RangeError(`a covariance needs at least 2 rows, got ${n}`);
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d] += features[i * dim + d] / n;
  const cov = new Float64Array(dim * dim);
  const centred = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) centred[d] = features[i * dim + d] - mean[d];
    for (let r = 0; r < dim; r++) {
      const x = centred[r];
      if (x === 0) continue;
      for (let c = r; c < dim; c++) cov[r * dim + c] += x * centred[c];
    }
  }
  for (let r = 0; r < dim; r++) {
    for (let c = r; c < dim; c++) {
      cov[r * dim + c] /= n - 1;
      cov[c * dim + r] = cov[r * dim + c];
    }
  }
  return { dim, mean, cov };
}

/**
 * Eigenvalues and eigenvectors of a symmetric matrix by cyclic Jacobi rotations: each rotation
 * zeroes one off-diagonal pair; sweeps repeat until the off-diagonal mass is negligible. Exact
 * enough and fast for the 64-128 dimensions used here. Returns vectors as the columns of `vectors`.
 */
export function symmetricEigen(matrix: Float64Array, dim: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) v[i * dim + i] = 1;
  let scale = 0;
  for (let i = 0; i < dim * dim; i++) scale += a[i] * a[i];
  const tolerance = 1e-22 * Math.max(scale, 1e-300);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < dim; p++) for (let q = p + 1; q < dim; q++) off += a[p * dim + q] ** 2;
    if (off <= tolerance) break;
    for (let p = 0; p < dim; p++) {
      for (let q = p + 1; q < dim; q++) {
        const apq = a[p * dim + q];
        if (apq === 0) continue;
        const theta = (a[q * dim + q] - a[p * dim + p]) / (2 * apq);
        // The smaller rotation angle keeps the iteration stable.
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < dim; k++) {
          const akp = a[k * dim + p];
          const akq = a[k * dim + q];
          a[k * dim + p] = c * akp - s * akq;
          a[k * dim + q] = s * akp + c * akq;
        }
        for (let k = 0; k < dim; k++) {
          const apk = a[p * dim + k];
          const aqk = a[q * dim + k];
          a[p * dim + k] = c * apk - s * aqk;
          a[q * dim + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < dim; k++) {
          const vkp = v[k * dim + p];
          const vkq = v[k * dim + q];
          v[k * dim + p] = c * vkp - s * vkq;
          v[k * dim + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: dim }, (_, i) => a[i * dim + i]), vectors: v };
}

/** The symmetric positive semi-definite square root; eigenvalues below zero (rounding) count as zero. */
export function sqrtPsd(matrix: Float64Array, dim: number): Float64Array {
  const { values, vectors } = symmetricEigen(matrix, dim);
  const out = new Float64Array(dim * dim);
  for (let k = 0; k < dim; k++) {
    const root = Math.sqrt(Math.max(values[k], 0));
    if (root === 0) continue;
    for (let r = 0; r < dim; r++) {
      const vr = vectors[r * dim + k] * root;
      for (let c = 0; c < dim; c++) out[r * dim + c] += vr * vectors[c * dim + k];
    }
  }
  return out;
}

function matMul(a: Float64Array, b: Float64Array, dim: number): Float64Array {
  const out = new Float64Array(dim * dim);
  for (let r = 0; r < dim; r++) {
    for (let k = 0; k < dim; k++) {
      const ark = a[r * dim + k];
      if (ark === 0) continue;
      for (let c = 0; c < dim; c++) out[r * dim + c] += ark * b[k * dim + c];
    }
  }
  return out;
}

/**
 * Fréchet distance of two Gaussians: |m1 - m2|^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^1/2).
 * C1 C2 is not symmetric; its square root's trace equals that of (S C2 S)^1/2 with S = C1^1/2,
 * which is symmetric PSD: the sum of the square roots of its eigenvalues.
 */
export function frechetDistance(g1: Gaussian, g2: Gaussian): number {
  const { dim } = g1;
  if (g2.dim !== dim) throw new RangeError(`Gaussians of ${dim} and ${g2.dim} dimensions`);
  let meanTerm = 0;
  let traces = 0;
  for (let d = 0; d < dim; d++) {
    meanTerm += (g1.mean[d] - g2.mean[d]) ** 2;
    traces += g1.cov[d * dim + d] + g2.cov[d * dim + d];
  }
  const s = sqrtPsd(g1.cov, dim);
  const inner = matMul(matMul(s, g2.cov, dim), s, dim);
  // Symmetrise away rounding before the eigen-solve, which assumes symmetry.
  for (let r = 0; r < dim; r++) for (let c = r + 1; c < dim; c++) inner[r * dim + c] = inner[c * dim + r] = (inner[r * dim + c] + inner[c * dim + r]) / 2;
  const { values } = symmetricEigen(inner, dim);
  let traceSqrt = 0;
  for (const l of values) traceSqrt += Math.sqrt(Math.max(l, 0));
  // Rounding can leave a distance of a set to itself a hair below zero.
  return Math.max(0, meanTerm + traces - 2 * traceSqrt);
}

/** FID of two sets of feature rows ([n, dim] each). */
export function fid(a: Float32Array | Float64Array, b: Float32Array | Float64Array, dim: number): number {
  return frechetDistance(gaussianOf(a, dim), gaussianOf(b, dim));
}

/**
 * FID of the rows `a` against the Gaussian `real`, once for each of `groups` interleaved parts of
 * `a` left out (rows g, g + groups, g + 2 groups...: the values a jackknife reads). Interleaved, not
 * consecutive: the rows come image by image, class by class, so each part holds every class and
 * leaving one out does not change which flowers the set shows. Sums and outer products of the rows
 * add over parts, so each value costs one Fréchet distance rather than another pass over the rows.
 */
export function fidLeaveOneOut(a: Float32Array | Float64Array, real: Gaussian, dim: number, groups: number): number[] {
  const n = a.length / dim;
  if (groups < 2 || groups > n) throw new RangeError(`cannot leave out one of ${groups} parts of ${n} rows`);
  const counts = Array.from({ length: groups }, (_, g) => Math.ceil((n - g) / groups));
  const sums = counts.map(() => new Float64Array(dim));
  const outers = counts.map(() => new Float64Array(dim * dim));
  for (let i = 0; i < n; i++) {
    const [sum, outer] = [sums[i % groups], outers[i % groups]];
    for (let r = 0; r < dim; r++) {
      const x = a[i * dim + r];
      sum[r] += x;
      for (let c = r; c < dim; c++) outer[r * dim + c] += x * a[i * dim + c];
    }
  }
  const total = (parts: Float64Array[]) => parts.reduce((acc, p) => acc.map((v, i) => v + p[i]), new Float64Array(parts[0].length));
  const [sum, outer] = [total(sums), total(outers)];
  return counts.map((count, g) => {
    const m = n - count;
    if (m < 2) throw new RangeError(`leaving out ${count} of ${n} rows leaves no covariance`);
    const mean = Float64Array.from(sum, (v, i) => (v - sums[g][i]) / m);
    const cov = new Float64Array(dim * dim);
    for (let r = 0; r < dim; r++) {
      for (let c = r; c < dim; c++) {
        cov[r * dim + c] = cov[c * dim + r] = (outer[r * dim + c] - outers[g][r * dim + c] - m * mean[r] * mean[c]) / (m - 1);
      }
    }
    return frechetDistance({ dim, mean, cov }, real);
  });
}

/** The jackknife's standard error of a statistic from its leave-one-out values: sqrt((G - 1) / G · Σ (θ_g − θ̄)²). */
export function jackknifeStandardError(leaveOneOut: ArrayLike<number>): number {
  const g = leaveOneOut.length;
  if (g < 2) throw new RangeError(`a jackknife needs at least 2 leave-one-out values, got ${g}`);
  return Math.sqrt(g - 1) * meanStd(leaveOneOut).std;
}

function cosine(a: Float32Array | Float64Array, i: number, b: Float32Array | Float64Array, j: number, dim: number): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let d = 0; d < dim; d++) {
    const x = a[i * dim + d];
    const y = b[j * dim + d];
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return dot / Math.sqrt(Math.max(na * nb, 1e-24));
}

export interface RPrecisionInput {
  /** Joint-space vectors of the generated images, [n, dim]. */
  images: Float32Array;
  /** Caption vectors, [captions, dim]. */
  captions: Float32Array;
  dim: number;
  /** For image i: the caption rows to rank, its own caption first, then the mismatched ones. */
  candidates: number[][];
}

/**
 * R-precision with R = 1 (AttnGAN's protocol): image i "retrieves" its caption when its own
 * caption has the highest cosine among its candidates. Returns, per image, how many candidates
 * beat its own caption (0 = retrieved), and the mean and std of the retrieved share over splits.
 */
export function rPrecision(input: RPrecisionInput, splits: number): MeanStd & { ranks: Int32Array } {
  const { images, captions, dim, candidates } = input;
  const ranks = Int32Array.from(candidates, (rows, i) => {
    const own = cosine(images, i, captions, rows[0], dim);
    return rows.slice(1).filter((r) => cosine(images, i, captions, r, dim) > own).length;
  });
  const shares = splitRanges(ranks.length, splits).map(([a, b]) => ranks.subarray(a, b).filter((k) => k === 0).length / (b - a));
  return { ...meanStd(shares), ranks };
}

export interface PairedDifference {
  /** Share of items `a` gets right less the share `b` does. */
  difference: number;
  /** Its standard error over the items (McNemar's: only the items where the two disagree add to it). */
  standardError: number;
  /** Items only `a` gets right, and only `b`. */
  onlyA: number;
  onlyB: number;
  items: number;
}

/**
 * Two sets scored item by item on the same items (the same captions and noise): how much more
 * often `a` is right than `b`, with the standard error of that difference. Pairing cancels what the
 * items share (a hard caption is hard for both), so it tells small differences from noise where
 * two separate scores' spreads cannot.
 */
export function pairedDifference(a: ArrayLike<boolean>, b: ArrayLike<boolean>): PairedDifference {
  if (a.length !== b.length) throw new RangeError(`paired sets differ in length: ${a.length} and ${b.length}`);
  const items = a.length;
  let onlyA = 0;
  let onlyB = 0;
  for (let i = 0; i < items; i++) {
    if (a[i] && !b[i]) onlyA++;
    if (b[i] && !a[i]) onlyB++;
  }
  const difference = (onlyA - onlyB) / items;
  const variance = (onlyA + onlyB) / items - difference ** 2;
  return { difference, standardError: Math.sqrt(Math.max(variance, 0) / items), onlyA, onlyB, items };
}

/** Rank of each row's true class in its p(y|x) (0 = the top prediction), for top-k agreement. */
export function trueClassRanks(probs: Float32Array, classes: number, labels: ArrayLike<number>): Int32Array {
  return Int32Array.from({ length: labels.length }, (_, i) => {
    const own = probs[i * classes + labels[i]];
    let above = 0;
    for (let c = 0; c < classes; c++) if (probs[i * classes + c] > own) above++;
    return above;
  });
}

/** Share of ranks below k: top-k accuracy from trueClassRanks. */
export const topK = (ranks: Int32Array, k: number) => ranks.filter((r) => r < k).length / ranks.length;

/**
 * The course's score: per generated image, the cosine distance (1 - cosine) between its
 * features and those of its ground-truth image; the set's score is their mean plus the inverse
 * of the spread of the generated features (the root mean per-dimension variance across the
 * generated images), so that collapsed, look-alike outputs are penalised. Lower is better.
 */
export function courseScore(generated: Float32Array, truth: Float32Array, dim: number): { score: number; meanCosineDistance: number; spread: number; perImage: Float32Array } {
  const n = generated.length / dim;
  const perImage = Float32Array.from({ length: n }, (_, i) => 1 - cosine(generated, i, truth, i, dim));
  const { cov } = gaussianOf(generated, dim);
  let variance = 0;
  for (let d = 0; d < dim; d++) variance += cov[d * dim + d] / dim;
  const spread = Math.sqrt(variance);
  const meanCosineDistance = meanStd(perImage).mean;
  return { score: meanCosineDistance + 1 / spread, meanCosineDistance, spread, perImage };
}

/** Centred moving average over `window` points (fewer at the ends), for the report's trend lines. */
export function movingAverage(values: ArrayLike<number>, window: number): Float64Array {
  const half = Math.floor(window / 2);
  return Float64Array.from({ length: values.length }, (_, i) => {
    const a = Math.max(0, i - half);
    const b = Math.min(values.length, i + half + 1);
    let sum = 0;
    for (let k = a; k < b; k++) sum += values[k];
    return sum / (b - a);
  });
}
