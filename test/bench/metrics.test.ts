import { describe, expect, it } from 'vitest';
import {
  accuracyAt,
  bestThreshold,
  crossValidatedAccuracy,
  meanStd,
  operatingPoint,
  rateAtOrAbove,
  rng,
  rocAuc,
  shuffled,
  tarAtFar,
  thresholdAtRate,
  type ScoredPair,
} from '../../bench/metrics.js';

const pairs = (same: number[], diff: number[]): ScoredPair[] => [...same.map((score) => ({ score, same: true })), ...diff.map((score) => ({ score, same: false }))];

describe('verification metrics', () => {
  it('finds the threshold that separates the classes, between the scores', () => {
    const p = pairs([0.6, 0.7, 0.8], [0.1, 0.2, 0.3]);
    const b = bestThreshold(p);
    expect(b.accuracy).toBe(1);
    expect(b.threshold).toBeGreaterThan(0.3);
    expect(b.threshold).toBeLessThanOrEqual(0.6);
    expect(accuracyAt(p, b.threshold)).toBe(1);
  });

  it('takes the best threshold with overlap, accepting scores >= it', () => {
    const p = pairs([0.5, 0.6, 0.35], [0.1, 0.4, 0.2]);
    const b = bestThreshold(p);
    expect(b.accuracy).toBeCloseTo(5 / 6, 10);
    expect(accuracyAt(p, b.threshold)).toBeCloseTo(5 / 6, 10);
  });

  it('scores each fold with the threshold of the other folds', () => {
    // Fold 2 alone would want a threshold near 0.9; the others say ~0.5, so fold 2 loses accuracy.
    const folds = [pairs([0.6, 0.7], [0.3, 0.4]), pairs([0.6, 0.8], [0.2, 0.45]), pairs([0.95, 0.97], [0.85, 0.88])];
    const cv = crossValidatedAccuracy(folds);
    expect(cv.accuracies.slice(0, 2)).toEqual([1, 1]);
    expect(cv.accuracies[2]).toBe(0.5);
    expect(cv.mean).toBeCloseTo(2.5 / 3, 10);
    expect(cv.std).toBeCloseTo(meanStd([1, 1, 0.5]).std, 12);
  });

  it('computes ROC AUC as the rank statistic, ties half', () => {
    expect(rocAuc([0.9, 0.8], [0.1, 0.2])).toBe(1);
    expect(rocAuc([0.1], [0.9])).toBe(0);
    expect(rocAuc([0.5], [0.5])).toBe(0.5);
    expect(rocAuc([0.9, 0.3], [0.5, 0.1])).toBe(0.75);
  });

  it('picks thresholds that let through at most the asked share of negatives', () => {
    const neg = Array.from({ length: 1000 }, (_, i) => i / 1000);
    for (const rate of [0.1, 0.01, 0.001]) {
      const t = thresholdAtRate(neg, rate);
      expect(rateAtOrAbove(neg, t)).toBeLessThanOrEqual(rate + 1e-12);
      expect(rateAtOrAbove(neg, t)).toBeGreaterThan(rate / 2);
    }
    expect(rateAtOrAbove(neg, thresholdAtRate(neg, 0))).toBe(0);
    const r = tarAtFar([0.9995, 0.9986, 0.5], neg, 0.001);
    expect(r.far).toBeLessThanOrEqual(0.001);
    expect(r.tar).toBeCloseTo(2 / 3, 10);
  });
});

describe('open-set identification', () => {
  it('counts a mated search only when rank 1 is right and above the threshold', () => {
    const mated = [
      { correct: true, score: 0.9 },
      { correct: true, score: 0.45 },
      { correct: false, score: 0.95 },
      { correct: true, score: 0.2 },
    ];
    const imp = Array.from({ length: 100 }, (_, i) => i / 250); // 0 .. 0.396
    const op = operatingPoint(mated, imp, 0.01);
    expect(op.fpir).toBeLessThanOrEqual(0.01);
    expect(op.threshold).toBeGreaterThan(0.39);
    expect(op.tpir).toBe(0.5);
  });
});

describe('seeded draws', () => {
  it('are reproducible from the seed and differ between seeds', () => {
    const a = shuffled([...Array(50).keys()], rng(7));
    expect(shuffled([...Array(50).keys()], rng(7))).toEqual(a);
    expect(shuffled([...Array(50).keys()], rng(8))).not.toEqual(a);
    expect([...a].sort((x, y) => x - y)).toEqual([...Array(50).keys()]);
  });
});
