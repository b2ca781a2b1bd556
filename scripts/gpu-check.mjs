// Device check: onnxruntime-node's WebGPU execution provider (Dawn/Vulkan) against its CPU provider,
// on Vigil's real models and real preprocessed inputs, with the session options Vigil uses.
import { readFileSync, writeFileSync } from 'node:fs';
import ort from './node_modules/onnxruntime-node/dist/index.js';
const out = process.env.OUT ?? '.';
const report = { backends: ort.listSupportedBackends?.(), results: [] };
const opts = (ep, threads = 1) => ({
  executionProviders: ep === 'cpu' ? ['cpu'] : [ep],
  intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', logSeverityLevel: 3,
  extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
});
const f32 = (file) => { const b = readFileSync(file); return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4); };
const det = f32('det640.bin');
const faces = f32('faces32.bin');
const cos = (a, b) => { let s = 0, x = 0, y = 0; for (let i = 0; i < a.length; i++) { s += a[i] * b[i]; x += a[i] * a[i]; y += b[i] * b[i]; } return s / Math.sqrt(x * y); };
async function time(sess, feeds, n = 20) {
  for (let i = 0; i < 3; i++) await sess.run(feeds);
  const t = performance.now();
  for (let i = 0; i < n; i++) await sess.run(feeds);
  return (performance.now() - t) / n;
}
function batch(n) { const d = new Float32Array(n * 3 * 112 * 112); for (let i = 0; i < n; i++) d.set(faces.subarray((i % 32) * 37632, (i % 32 + 1) * 37632), i * 37632); return d; }
async function one(name, file, feedsOf, cases, compare) {
  const sess = {};
  for (const ep of ['cpu', 'webgpu']) {
    try { sess[ep] = await ort.InferenceSession.create(`models/${file}`, opts(ep, ep === 'cpu' ? 16 : 1)); }
    catch (e) { report.results.push({ name, ep, error: String(e.message ?? e).slice(0, 400) }); }
  }
  for (const c of cases) {
    const feeds = feedsOf(c);
    const r = { name, case: c };
    for (const ep of Object.keys(sess)) r[`${ep}_ms`] = +(await time(sess[ep], feeds, typeof c === "number" && c >= 32 ? 5 : 20)).toFixed(2);
    if (sess.cpu && sess.webgpu) Object.assign(r, compare(await sess.cpu.run(feeds), await sess.webgpu.run(feeds), c));
    report.results.push(r); console.log(JSON.stringify(r));
  }
}
const embCompare = (a, b, n) => {
  const k = Object.keys(a)[0]; const x = a[k].data, y = b[k].data; const d = x.length / n; let min = 1;
  for (let i = 0; i < n; i++) min = Math.min(min, cos(x.subarray(i * d, (i + 1) * d), y.subarray(i * d, (i + 1) * d)));
  // identity sanity on the GPU embeddings: 8 people x 4 photos
  let gen = [], imp = [];
  if (n >= 32) for (let i = 0; i < 32; i++) for (let j = i + 1; j < 32; j++) (Math.floor(i / 4) === Math.floor(j / 4) ? gen : imp).push(cos(y.subarray(i * d, (i + 1) * d), y.subarray(j * d, (j + 1) * d)));
  const mean = (v) => v.length ? +(v.reduce((s, q) => s + q, 0) / v.length).toFixed(3) : null;
  return { min_cos_cpu_vs_gpu: +min.toFixed(5), gpu_genuine_mean: mean(gen), gpu_impostor_mean: mean(imp), gpu_min_genuine: gen.length ? +Math.min(...gen).toFixed(3) : null, gpu_max_impostor: imp.length ? +Math.max(...imp).toFixed(3) : null };
};
await one('w600k_mbf_fp32', 'w600k_mbf_fp32.onnx', (n) => ({ 'input.1': new ort.Tensor('float32', batch(n), [n, 3, 112, 112]) }), [1, 8, 32, 128], embCompare);
await one('mobilefacenet_128', 'mobilefacenet_128.onnx', (n) => ({ input0: new ort.Tensor('float32', batch(n), [n, 3, 112, 112]) }), [1], embCompare);
const detCompare = (a, b) => { let maxd = 0, hi = 0, hiG = 0; for (const k of Object.keys(a)) { const x = a[k].data, y = b[k].data; for (let i = 0; i < x.length; i++) maxd = Math.max(maxd, Math.abs(x[i] - y[i])); if (a[k].dims.at(-1) === 1) { for (const v of x) hi += v > 0.5; for (const v of y) hiG += v > 0.5; } } return { max_abs_diff: +maxd.toExponential(2), anchors_over_0_5_cpu: hi, anchors_over_0_5_gpu: hiG }; };
await one('scrfd_2.5g_kps', 'scrfd_2.5g_kps.onnx', () => ({ 'input.1': new ort.Tensor('float32', det, [1, 3, 640, 640]) }), ['640x640'], detCompare);
try { await ort.InferenceSession.create('models/w600k_mbf_fp32.onnx', opts('cuda')); report.cuda = 'created'; } catch (e) { report.cuda = String(e.message ?? e).slice(0, 300); }
console.log('cuda:', report.cuda);
writeFileSync(`${out}/gpu.json`, JSON.stringify(report, null, 1));
