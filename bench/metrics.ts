/**
 * Verification and open-set identification metrics, as pure functions over similarity scores.
 * Conventions match the matcher: a pair/probe is accepted when its similarity is >= the threshold.
 */

/** Nearest-rank percentile (q in 0..1) of ascending values; null when there are none. */
export function percentile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export interface ScoredPair {
  readonly score: number;
  readonly same: boolean;
}

/** Accuracy of "same iff score >= t". */
export function accuracyAt(pairs: readonly ScoredPair[], t: number): number {
  let ok = 0;
  for (const p of pairs) if (p.score >= t === p.same) ok++;
  return pairs.length ? ok / pairs.length : 0;
}

/**
 * The threshold with the best accuracy on `pairs`: every midpoint between consecutive distinct
 * scores is tried (an exact sweep, not a grid). Ties go to the lowest such threshold.
 */
export function bestThreshold(pairs: readonly ScoredPair[]): { threshold: number; accuracy: number } {
  const s = [...pairs].sort((a, b) => a.score - b.score);
  const nSame = s.filter((p) => p.same).length;
  // Threshold below everything: all accepted -> correct = nSame.
  let correct = nSame;
  let best = correct;
  let bestT = s.length ? s[0]!.score - 1e-6 : 0;
  for (let i = 0; i < s.length; i++) {
    // Moving the threshold above s[i] rejects it.
    correct += s[i]!.same ? -1 : 1;
    if (i + 1 < s.length && s[i + 1]!.score === s[i]!.score) continue;
    const t = i + 1 < s.length ? (s[i]!.score + s[i + 1]!.score) / 2 : s[i]!.score + 1e-6;
    if (correct > best) {
      best = correct;
      bestT = t;
    }
  }
  return { threshold: bestT, accuracy: s.length ? best / s.length : 0 };
}

export interface FoldResult {
  readonly accuracies: number[];
  readonly thresholds: number[];
  readonly mean: number;
  /** Population standard deviation over folds (as InsightFace and most LFW tables report it). */
  readonly std: number;
}

/** LFW View 2: each fold is scored with the threshold that is best on the other folds together. */
export function crossValidatedAccuracy(folds: readonly (readonly ScoredPair[])[]): FoldResult {
  const accuracies: number[] = [];
  const thresholds: number[] = [];
  for (let i = 0; i < folds.length; i++) {
    const train = folds.flatMap((f, j) => (j === i ? [] : f));
    const { threshold } = bestThreshold(train.length ? train : folds[i]!);
    thresholds.push(threshold);
    accuracies.push(accuracyAt(folds[i]!, threshold));
  }
  const { mean, std } = meanStd(accuracies);
  return { accuracies, thresholds, mean, std };
}

export function meanStd(v: readonly number[]): { mean: number; std: number } {
  if (v.length === 0) return { mean: 0, std: 0 };
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  return { mean, std };
}

/** Area under the ROC curve = P(score of a random positive > a random negative), ties counting half. */
export function rocAuc(pos: readonly number[], neg: readonly number[]): number {
  if (!pos.length || !neg.length) return 0;
  const all = [...pos.map((s) => ({ s, p: 1 })), ...neg.map((s) => ({ s, p: 0 }))].sort((a, b) => a.s - b.s);
  let rankSumPos = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j]!.s === all[i]!.s) j++;
    const avgRank = (i + 1 + j) / 2; // 1-based ranks i+1..j
    for (let k = i; k < j; k++) if (all[k]!.p) rankSumPos += avgRank;
    i = j;
  }
  return (rankSumPos - (pos.length * (pos.length + 1)) / 2) / (pos.length * neg.length);
}

/**
 * The threshold at which at most `rate` of `negatives` score >= it: halfway between the k-th and
 * (k+1)-th highest negative, k = floor(rate * n), so exactly k negatives pass (fewer with ties).
 * Rounded up to 4 decimals (what a manifest or config holds), keeping the guarantee.
 */
export function thresholdAtRate(negatives: readonly number[], rate: number): number {
  if (!negatives.length) return 1;
  const s = [...negatives].sort((a, b) => b - a);
  const k = Math.floor(rate * s.length + 1e-9);
  if (k >= s.length) return s[s.length - 1]!;
  const above = k === 0 ? s[0]! + 2e-4 : s[k - 1]!;
  const t = (s[k]! + above) / 2;
  // Round up to 1e-4 but stay above s[k], so no more than k negatives pass.
  let r = Math.ceil(t * 1e4) / 1e4;
  if (r <= s[k]!) r = Math.ceil((s[k]! + 1e-9) * 1e4) / 1e4;
  return r;
}

export function rateAtOrAbove(scores: readonly number[], t: number): number {
  if (!scores.length) return 0;
  let n = 0;
  for (const s of scores) if (s >= t) n++;
  return n / scores.length;
}

/** TAR at a FAR: the share of positives accepted at the threshold that accepts `far` of negatives. */
export function tarAtFar(pos: readonly number[], neg: readonly number[], far: number): { tar: number; threshold: number; far: number } {
  const threshold = thresholdAtRate(neg, far);
  return { tar: rateAtOrAbove(pos, threshold), threshold, far: rateAtOrAbove(neg, threshold) };
}

/** One mated search: whether rank 1 was the right subject, and the rank-1 similarity. */
export interface MatedSearch {
  readonly correct: boolean;
  readonly score: number;
}

/** TPIR: share of mated searches whose rank 1 is the right subject with similarity >= t. */
export function tpirAt(mated: readonly MatedSearch[], t: number): number {
  if (!mated.length) return 0;
  let n = 0;
  for (const m of mated) if (m.correct && m.score >= t) n++;
  return n / mated.length;
}

export interface OperatingPoint {
  readonly targetFpir: number;
  readonly threshold: number;
  /** FPIR actually measured at `threshold` (<= target). */
  readonly fpir: number;
  readonly tpir: number;
}

/** Open-set identification at a target FPIR: the threshold from the impostors' rank-1 scores. */
export function operatingPoint(mated: readonly MatedSearch[], impostorTop: readonly number[], targetFpir: number): OperatingPoint {
  const threshold = thresholdAtRate(impostorTop, targetFpir);
  return { targetFpir, threshold, fpir: rateAtOrAbove(impostorTop, threshold), tpir: tpirAt(mated, threshold) };
}

/** Seeded PRNG (mulberry32): benchmark subsets are reproducible from the seed alone. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates shuffle of a copy. */
export function shuffled<T>(items: readonly T[], rand: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
