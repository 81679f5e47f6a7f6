import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { denseKernel } from '../../models/src/dense-kernel.ts';

const dir = fileURLToPath(new URL('../test/fixtures/compat/models/saved_models/', import.meta.url));
for (const f of [
  '2_Clinker_temperature_ann_model_fold_2.onnx',
  '4_Calciner_outlet_CO_ann_model_fold_2.onnx',
  'MA_MinMax_lag0_Kiln_Drive_Current_ann_model_fold_5.onnx',
]) {
  const bytes = readFileSync(dir + f);
  for (const w of [4, 5, 6, 7, 8, 9, 10, 11, 12]) {
    const k = denseKernel(bytes, w) as any;
    if (!k) continue;
    console.log(
      f,
      w,
      k.steps
        .map(
          (s: any) =>
            s.op +
            (s.fn ? ':' + s.fn : '') +
            (s.rows ? `${s.rows}x${s.cols}` : '') +
            `[${k.values[s.y].length}]`,
        )
        .join(' '),
    );
    const x = new Float64Array(w).fill(0.3);
    const sc = new Float64Array(w).fill(1);
    const g = new Float64Array(w);
    for (let i = 0; i < 20000; i++) k.run(x, 0, sc, g, 0);
    const t = performance.now();
    const N = 200000;
    for (let i = 0; i < N; i++) {
      x[0] = i * 1e-6;
      k.run(x, 0, sc, g, 0);
    }
    console.log('µs/run', (((performance.now() - t) * 1000) / N).toFixed(3));
    break;
  }
}
