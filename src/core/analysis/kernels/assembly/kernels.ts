// AssemblyScript source of the WebAssembly SIMD kernels of pass 1 and pass 2 (feature-last,
// float32 input, no weight/bias). Compiled by scripts/build-kernels.mjs into
// src/core/analysis/kernels/kernelsWasmBinary.ts; the glue is src/core/analysis/kernels/wasmKernelLoader.ts.
// Every result is bit for bit what the JavaScript kernels of pass1.ts / pass2.ts compute: the same
// float64 operations in the same order (the f64x2 lanes of pass 1 are its two partial sums; pass 2
// sums each token's outputs in one scalar chain), bins by the same floor-then-check-edges rule.
// Pointers are byte offsets into the exported memory, laid out by the glue.

/** JavaScript's ToInt32 (`u | 0`): truncate, then wrap modulo 2^32; NaN and ±Inf give 0. */
function toInt32(u: f64): i32 {
  if (Math.abs(u) < 9223372036854775808.0) return <i32><i64>u;
  if (u - u !== 0) return 0;
  // |u| ≥ 2^63 is an integer: its remainder modulo 2^32 is exact.
  let r = u % 4294967296.0;
  if (r < 0) r += 4294967296.0;
  return <i32><u32>r;
}

/** Bin of `v` exactly as pass2.ts does it: u = (v − lo)·inv, k = ToInt32(u) clamped, edge check near boundaries. */
function binOf(v: f64, lo: f64, inv: f64, tol: f64, top: f64, edges: usize, last: i32): i32 {
  const u = (v - lo) * inv;
  let k = toInt32(u);
  if (k < 0) k = 0;
  else if (k > last) k = last;
  const fr = u - <f64>k;
  if (fr < tol || fr > top) {
    if (k > 0 && v < load<f64>(edges + (<usize>k << 3))) k--;
    else if (k < last && v >= load<f64>(edges + (<usize>(k + 1) << 3))) k++;
  }
  return k;
}

function bump(hist: usize, k: i32): void {
  const p = hist + (<usize>k << 2);
  store<i32>(p, load<i32>(p) + 1);
}

/**
 * Pass 2 over `n` all-finite tokens of F features (float32 at `x`), no affine. Token stats at
 * `tok` (mean[n], rstd[n], rrms[n]); BatchNorm scale/offset per feature (f64). Counts are added to
 * `hist` (8·bins int32: input, LayerNorm, RMSNorm, BatchNorm of even features, then the same for odd
 * ones, so consecutive increments rarely hit one address); per-token sums are written to `sums`
 * (6 arrays of n: Σdl, Σdl², Σdr, Σdr², Σdb, Σdb²).
 */
export function pass2Plain(x: usize, n: i32, F: i32, tok: usize, scale: usize, off: usize, hist: usize, sums: usize, inE: usize, outE: usize, bins: i32, inTol: f64, outTol: f64, kLn: f64, kBn: f64, wMean: f64): void {
  const last = bins - 1;
  const inLo = load<f64>(inE);
  const inInv = <f64>bins / (load<f64>(inE + (<usize>bins << 3)) - inLo);
  const outLo = load<f64>(outE);
  const outInv = <f64>bins / (load<f64>(outE + (<usize>bins << 3)) - outLo);
  const inTop = 1 - inTol;
  const outTop = 1 - outTol;
  const hIn = hist;
  const hLn = hist + (<usize>bins << 2);
  const hRms = hLn + (<usize>bins << 2);
  const hBn = hRms + (<usize>bins << 2);
  const hIn1 = hBn + (<usize>bins << 2);
  const hLn1 = hIn1 + (<usize>bins << 2);
  const hRms1 = hLn1 + (<usize>bins << 2);
  const hBn1 = hRms1 + (<usize>bins << 2);
  const vInLo = f64x2.splat(inLo);
  const vInInv = f64x2.splat(inInv);
  const vInTol = f64x2.splat(inTol);
  const vInTop = f64x2.splat(inTop);
  const vOutLo = f64x2.splat(outLo);
  const vOutInv = f64x2.splat(outInv);
  const vOutTol = f64x2.splat(outTol);
  const vOutTop = f64x2.splat(outTop);
  const vBins = f64x2.splat(<f64>bins);
  const Fe = F & ~1;
  const nb = <usize>n << 3;
  for (let t = 0; t < n; t++) {
    const q = x + (<usize>t * <usize>F << 2);
    const m = load<f64>(tok + (<usize>t << 3));
    const rs = load<f64>(tok + nb + (<usize>t << 3));
    const rr = load<f64>(tok + 2 * nb + (<usize>t << 3));
    const kRms = m * rr * wMean;
    const vm = f64x2.splat(m);
    const vrs = f64x2.splat(rs);
    const vrr = f64x2.splat(rr);
    const vkLn = f64x2.splat(kLn);
    const vkRms = f64x2.splat(kRms);
    const vkBn = f64x2.splat(kBn);
    let s1: f64 = 0;
    let q1: f64 = 0;
    let s2: f64 = 0;
    let q2: f64 = 0;
    let s3: f64 = 0;
    let q3: f64 = 0;
    let f = 0;
    for (; f < Fe; f += 2) {
      const xv = f64x2.promote_low_f32x4(v128.load64_zero(q + (<usize>f << 2)));
      const fo = <usize>f << 3;
      const yl = f64x2.mul(f64x2.sub(xv, vm), vrs);
      const yr = f64x2.mul(xv, vrr);
      const yb = f64x2.add(f64x2.mul(xv, v128.load(scale + fo)), v128.load(off + fo));
      const u0 = f64x2.mul(f64x2.sub(xv, vInLo), vInInv);
      const u1 = f64x2.mul(f64x2.sub(yl, vOutLo), vOutInv);
      const u2 = f64x2.mul(f64x2.sub(yr, vOutLo), vOutInv);
      const u3 = f64x2.mul(f64x2.sub(yb, vOutLo), vOutInv);
      const k0 = i32x4.trunc_sat_f64x2_s_zero(u0);
      const k1 = i32x4.trunc_sat_f64x2_s_zero(u1);
      const k2 = i32x4.trunc_sat_f64x2_s_zero(u2);
      const k3 = i32x4.trunc_sat_f64x2_s_zero(u3);
      const r0 = f64x2.sub(u0, f64x2.convert_low_i32x4_s(k0));
      const r1 = f64x2.sub(u1, f64x2.convert_low_i32x4_s(k1));
      const r2 = f64x2.sub(u2, f64x2.convert_low_i32x4_s(k2));
      const r3 = f64x2.sub(u3, f64x2.convert_low_i32x4_s(k3));
      // Near a boundary, negative (k clamps or differs from floor) or ≥ bins: the exact scalar rule.
      const near = v128.or(
        v128.or(v128.or(f64x2.lt(r0, vInTol), f64x2.gt(r0, vInTop)), v128.or(f64x2.lt(r1, vOutTol), f64x2.gt(r1, vOutTop))),
        v128.or(
          v128.or(v128.or(f64x2.lt(r2, vOutTol), f64x2.gt(r2, vOutTop)), v128.or(f64x2.lt(r3, vOutTol), f64x2.gt(r3, vOutTop))),
          v128.or(v128.or(f64x2.ge(u0, vBins), f64x2.ge(u1, vBins)), v128.or(f64x2.ge(u2, vBins), f64x2.ge(u3, vBins))),
        ),
      );
      if (v128.any_true(near)) {
        bump(hIn, binOf(f64x2.extract_lane(xv, 0), inLo, inInv, inTol, inTop, inE, last));
        bump(hLn, binOf(f64x2.extract_lane(yl, 0), outLo, outInv, outTol, outTop, outE, last));
        bump(hRms, binOf(f64x2.extract_lane(yr, 0), outLo, outInv, outTol, outTop, outE, last));
        bump(hBn, binOf(f64x2.extract_lane(yb, 0), outLo, outInv, outTol, outTop, outE, last));
        bump(hIn1, binOf(f64x2.extract_lane(xv, 1), inLo, inInv, inTol, inTop, inE, last));
        bump(hLn1, binOf(f64x2.extract_lane(yl, 1), outLo, outInv, outTol, outTop, outE, last));
        bump(hRms1, binOf(f64x2.extract_lane(yr, 1), outLo, outInv, outTol, outTop, outE, last));
        bump(hBn1, binOf(f64x2.extract_lane(yb, 1), outLo, outInv, outTol, outTop, outE, last));
      } else {
        bump(hIn, i32x4.extract_lane(k0, 0));
        bump(hLn, i32x4.extract_lane(k1, 0));
        bump(hRms, i32x4.extract_lane(k2, 0));
        bump(hBn, i32x4.extract_lane(k3, 0));
        bump(hIn1, i32x4.extract_lane(k0, 1));
        bump(hLn1, i32x4.extract_lane(k1, 1));
        bump(hRms1, i32x4.extract_lane(k2, 1));
        bump(hBn1, i32x4.extract_lane(k3, 1));
      }
      const dl = f64x2.sub(yl, vkLn);
      const dr = f64x2.sub(yr, vkRms);
      const db = f64x2.sub(yb, vkBn);
      const dl2 = f64x2.mul(dl, dl);
      const dr2 = f64x2.mul(dr, dr);
      const db2 = f64x2.mul(db, db);
      s1 += f64x2.extract_lane(dl, 0);
      q1 += f64x2.extract_lane(dl2, 0);
      s2 += f64x2.extract_lane(dr, 0);
      q2 += f64x2.extract_lane(dr2, 0);
      s3 += f64x2.extract_lane(db, 0);
      q3 += f64x2.extract_lane(db2, 0);
      s1 += f64x2.extract_lane(dl, 1);
      q1 += f64x2.extract_lane(dl2, 1);
      s2 += f64x2.extract_lane(dr, 1);
      q2 += f64x2.extract_lane(dr2, 1);
      s3 += f64x2.extract_lane(db, 1);
      q3 += f64x2.extract_lane(db2, 1);
    }
    if (f < F) {
      const xs = <f64>load<f32>(q + (<usize>f << 2));
      const yl = (xs - m) * rs;
      const yr = xs * rr;
      const yb = xs * load<f64>(scale + (<usize>f << 3)) + load<f64>(off + (<usize>f << 3));
      bump(hIn, binOf(xs, inLo, inInv, inTol, inTop, inE, last));
      bump(hLn, binOf(yl, outLo, outInv, outTol, outTop, outE, last));
      bump(hRms, binOf(yr, outLo, outInv, outTol, outTop, outE, last));
      bump(hBn, binOf(yb, outLo, outInv, outTol, outTop, outE, last));
      const dl = yl - kLn;
      s1 += dl;
      q1 += dl * dl;
      const dr = yr - kRms;
      s2 += dr;
      q2 += dr * dr;
      const db = yb - kBn;
      s3 += db;
      q3 += db * db;
    }
    const o = sums + (<usize>t << 3);
    store<f64>(o, s1);
    store<f64>(o + nb, q1);
    store<f64>(o + 2 * nb, s2);
    store<f64>(o + 3 * nb, q2);
    store<f64>(o + 4 * nb, s3);
    store<f64>(o + 5 * nb, q3);
  }
}

/** JavaScript's running minimum (`if (x < mn) mn = x`) of a token: the first of the smallest values. */
function firstZero(q: usize, F: i32): f64 {
  for (let f = 0; f < F; f++) {
    const v = load<f32>(q + (<usize>f << 2));
    if (v === 0) return <f64>v;
  }
  return 0;
}

/**
 * Pass 1 of a run of tokens, the all-finite kernel of pass1.ts, in blocks of tokens (the glue copies
 * one block at a time into this memory): pass1Begin, then pass1Sweep1 on every block, pass1Middle,
 * pass1Sweep2 on every block, pass1End. The per-feature accumulators go through the run's tokens in
 * order, as in JavaScript. `col` holds 4 arrays of F f64 (column mean, M2, min, max), `colSum` F f64
 * and `colMinMax` 2·F f32 of scratch.
 */
export function pass1Begin(F: i32, colSum: usize): void {
  memory.fill(colSum, 0, <usize>F << 3);
}

/**
 * Sweep 1 over `n` tokens of F features (float32 at `x`): per token mean, Σx², min, max (4 arrays of
 * n f64 at `tok`); column sums into `colSum`. Returns 1 when a token's sums are not finite (the caller
 * then runs the checked JavaScript kernel over the whole run).
 */
export function pass1Sweep1(x: usize, n: i32, F: i32, tok: usize, colSum: usize): i32 {
  const Fe = F & ~1;
  const F4 = F & ~3;
  const nb = <usize>n << 3;
  const inf = f32x4.splat(Infinity);
  const ninf = f32x4.splat(-Infinity);
  for (let t = 0; t < n; t++) {
    const q = x + (<usize>t * <usize>F << 2);
    let s = f64x2.splat(0);
    let sq = f64x2.splat(0);
    let mn4 = inf;
    let mx4 = ninf;
    let f = 0;
    for (; f < F4; f += 4) {
      const v4 = v128.load(q + (<usize>f << 2));
      mn4 = f32x4.pmin(mn4, v4);
      mx4 = f32x4.pmax(mx4, v4);
      const a = f64x2.promote_low_f32x4(v4);
      const b = f64x2.promote_low_f32x4(i32x4.shuffle(v4, v4, 2, 3, 0, 1));
      s = f64x2.add(s, a);
      sq = f64x2.add(sq, f64x2.mul(a, a));
      s = f64x2.add(s, b);
      sq = f64x2.add(sq, f64x2.mul(b, b));
      const c = colSum + (<usize>f << 3);
      v128.store(c, f64x2.add(v128.load(c), a));
      v128.store(c + 16, f64x2.add(v128.load(c + 16), b));
    }
    let s0 = f64x2.extract_lane(s, 0);
    let s1 = f64x2.extract_lane(s, 1);
    let q0 = f64x2.extract_lane(sq, 0);
    let q1 = f64x2.extract_lane(sq, 1);
    let mn: f64 = Infinity;
    let mx: f64 = -Infinity;
    for (let j = 0; j < 4; j++) {
      const a = <f64>f32x4.extract_lane(mn4, 0);
      const b = <f64>f32x4.extract_lane(mx4, 0);
      if (a < mn) mn = a;
      if (b > mx) mx = b;
      mn4 = i32x4.shuffle(mn4, mn4, 1, 2, 3, 0);
      mx4 = i32x4.shuffle(mx4, mx4, 1, 2, 3, 0);
    }
    for (; f < Fe; f += 2) {
      const a = <f64>load<f32>(q + (<usize>f << 2));
      const b = <f64>load<f32>(q + (<usize>f << 2) + 4);
      s0 += a;
      s1 += b;
      q0 += a * a;
      q1 += b * b;
      const c = colSum + (<usize>f << 3);
      store<f64>(c, load<f64>(c) + a);
      store<f64>(c + 8, load<f64>(c + 8) + b);
      if (a < mn) mn = a;
      if (a > mx) mx = a;
      if (b < mn) mn = b;
      if (b > mx) mx = b;
    }
    if (f < F) {
      const a = <f64>load<f32>(q + (<usize>f << 2));
      s0 += a;
      q0 += a * a;
      const c = colSum + (<usize>f << 3);
      store<f64>(c, load<f64>(c) + a);
      if (a < mn) mn = a;
      if (a > mx) mx = a;
    }
    const sum = s0 + s1;
    const sqs = q0 + q1;
    if (sum - sum !== 0 || sqs - sqs !== 0) return 1;
    // ±0: JavaScript keeps the first zero met; the lanes may have met another first.
    if (mn === 0) mn = firstZero(q, F);
    if (mx === 0) mx = firstZero(q, F);
    const o = tok + (<usize>t << 3);
    store<f64>(o, sum / <f64>F);
    store<f64>(o + nb, sqs);
    store<f64>(o + 2 * nb, mn);
    store<f64>(o + 3 * nb, mx);
  }
  return 0;
}

/** Column means of a run of `runLength` tokens from `colSum`; clears the column M2, min and max. */
export function pass1Middle(F: i32, runLength: i32, colSum: usize, col: usize, colMinMax: usize): void {
  const fb = <usize>F << 3;
  const len = <f64>runLength;
  for (let f = 0; f < F; f++) {
    store<f64>(col + (<usize>f << 3), load<f64>(colSum + (<usize>f << 3)) / len);
    store<f64>(col + fb + (<usize>f << 3), 0);
    store<f32>(colMinMax + (<usize>f << 2), Infinity);
    store<f32>(colMinMax + (<usize>F << 2) + (<usize>f << 2), -Infinity);
  }
}

/**
 * Sweep 2 over `n` tokens: token M2 about the token means (n f64 at `tok`, written to `tok` + 8n),
 * column M2 about the column means, column min and max.
 */
export function pass1Sweep2(x: usize, n: i32, F: i32, tok: usize, col: usize, colMinMax: usize): void {
  const Fe = F & ~1;
  const F4 = F & ~3;
  const nb = <usize>n << 3;
  const colMean = col;
  const colM2 = col + (<usize>F << 3);
  const cmn = colMinMax;
  const cmx = colMinMax + (<usize>F << 2);
  for (let t = 0; t < n; t++) {
    const q = x + (<usize>t * <usize>F << 2);
    const m = load<f64>(tok + (<usize>t << 3));
    const vm = f64x2.splat(m);
    let m2 = f64x2.splat(0);
    let f = 0;
    for (; f < F4; f += 4) {
      const v4 = v128.load(q + (<usize>f << 2));
      const pn = cmn + (<usize>f << 2);
      const px = cmx + (<usize>f << 2);
      v128.store(pn, f32x4.pmin(v128.load(pn), v4));
      v128.store(px, f32x4.pmax(v128.load(px), v4));
      const a = f64x2.promote_low_f32x4(v4);
      const b = f64x2.promote_low_f32x4(i32x4.shuffle(v4, v4, 2, 3, 0, 1));
      const da = f64x2.sub(a, vm);
      m2 = f64x2.add(m2, f64x2.mul(da, da));
      const db = f64x2.sub(b, vm);
      m2 = f64x2.add(m2, f64x2.mul(db, db));
      const c = colMean + (<usize>f << 3);
      const ea = f64x2.sub(a, v128.load(c));
      const eb = f64x2.sub(b, v128.load(c + 16));
      const c2 = colM2 + (<usize>f << 3);
      v128.store(c2, f64x2.add(v128.load(c2), f64x2.mul(ea, ea)));
      v128.store(c2 + 16, f64x2.add(v128.load(c2 + 16), f64x2.mul(eb, eb)));
    }
    let m0 = f64x2.extract_lane(m2, 0);
    let m1 = f64x2.extract_lane(m2, 1);
    for (; f < Fe; f += 2) {
      const a = load<f32>(q + (<usize>f << 2));
      const b = load<f32>(q + (<usize>f << 2) + 4);
      const d = <f64>a - m;
      const d1 = <f64>b - m;
      m0 += d * d;
      m1 += d1 * d1;
      const e = <f64>a - load<f64>(colMean + (<usize>f << 3));
      const e1 = <f64>b - load<f64>(colMean + (<usize>f << 3) + 8);
      const c2 = colM2 + (<usize>f << 3);
      store<f64>(c2, load<f64>(c2) + e * e);
      store<f64>(c2 + 8, load<f64>(c2 + 8) + e1 * e1);
      const pn = cmn + (<usize>f << 2);
      const px = cmx + (<usize>f << 2);
      if (a < load<f32>(pn)) store<f32>(pn, a);
      if (a > load<f32>(px)) store<f32>(px, a);
      if (b < load<f32>(pn + 4)) store<f32>(pn + 4, b);
      if (b > load<f32>(px + 4)) store<f32>(px + 4, b);
    }
    if (f < F) {
      const a = load<f32>(q + (<usize>f << 2));
      const d = <f64>a - m;
      m0 += d * d;
      const e = <f64>a - load<f64>(colMean + (<usize>f << 3));
      const c2 = colM2 + (<usize>f << 3);
      store<f64>(c2, load<f64>(c2) + e * e);
      const pn = cmn + (<usize>f << 2);
      const px = cmx + (<usize>f << 2);
      if (a < load<f32>(pn)) store<f32>(pn, a);
      if (a > load<f32>(px)) store<f32>(px, a);
    }
    store<f64>(tok + nb + (<usize>t << 3), m0 + m1);
  }
}

/** Column min and max of the run as f64 (arrays 3 and 4 of `col`). */
export function pass1End(F: i32, col: usize, colMinMax: usize): void {
  const fb = <usize>F << 3;
  for (let f = 0; f < F; f++) {
    store<f64>(col + 2 * fb + (<usize>f << 3), <f64>load<f32>(colMinMax + (<usize>f << 2)));
    store<f64>(col + 3 * fb + (<usize>f << 3), <f64>load<f32>(colMinMax + (<usize>F << 2) + (<usize>f << 2)));
  }
}
