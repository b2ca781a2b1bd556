import type { DetectorModel, LandmarkModel } from '../../models/manifest.js';
import type { SessionOptions } from '../onnx.js';
import type { Detector } from '../types.js';
import { ScrfdDetector } from './scrfd.js';
import { UltrafaceDetector } from './ultraface.js';
import { YunetDetector } from './yunet.js';

export { decodeScrfd, ScrfdDetector } from './scrfd.js';
export { decodeYunet, YunetDetector } from './yunet.js';
export { decodeUltraface, decodeUltrafacePriors, ultrafacePriors, UltrafaceDetector } from './ultraface.js';
export { decodeLandmark68, fivePointsFrom68, grayCrop, Landmark68 } from './landmark68.js';
export { letterbox, letterboxGeometry, type LetterboxResult, type LetterboxSpec } from './letterbox.js';
export { iou, nms } from './nms.js';

export interface CreateDetectorOptions {
  /** Longest side frames are letterboxed to (the profile's detectSize); ignored by static-input models. */
  readonly detectSize: number;
  readonly session: SessionOptions;
  /** Required for detectors that need a landmark model (model.landmarker set, arch 'ultraface'). */
  readonly landmarkModel?: LandmarkModel;
  /** The model's manifest key, reported as Detector.id; default: the file name without .onnx. */
  readonly id?: string;
  /** Overrides the manifest's score threshold. */
  readonly scoreThreshold?: number;
}

/** Opens the detector for a manifest entry; `files` are absolute paths of the installed model files. */
export async function createDetector(
  model: DetectorModel,
  files: { detector: string; landmarks?: string },
  opts: CreateDetectorOptions,
): Promise<Detector> {
  const id = opts.id ?? model.file.replace(/\.onnx$/i, '');
  switch (model.arch) {
    case 'scrfd':
      return ScrfdDetector.open(id, files.detector, model, opts);
    case 'yunet':
      return YunetDetector.open(id, files.detector, model, opts);
    case 'ultraface': {
      if (!files.landmarks) throw new Error(`detector ${model.file}: the ultraface detector needs a landmark model file`);
      return UltrafaceDetector.open(id, { detector: files.detector, landmarks: files.landmarks }, model, opts.landmarkModel, opts);
    }
  }
}
