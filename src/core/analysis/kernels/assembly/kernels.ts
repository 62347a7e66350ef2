// AssemblyScript source of the WebAssembly SIMD kernels of pass 1 and pass 2 (feature-last,
// float32 input, no weight/bias), and of the merge between the passes and the report's reductions
// (scalar float64, the same operations in the same order as their JavaScript). Compiled by scripts/build-kernels.mjs into
// src/core/analysis/kernels/kernelsWasmBinary.ts; the glue is src/core/analysis/kernels/wasmKernelLoader.ts.
// Every result is bit for bit what the JavaScript kernels of pass1.ts / pass2FeatureLast.ts compute:
// the same float64 sums in the same order (the f64x2 lanes are their two partial sums: pass 1's per
// token, pass 2's BatchNorm output sums over even and odd features), and the same histogram counts
// (pass 2 guesses bins in float32 and takes the exact float64 rule within a rounding margin of an edge).
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

/** Rounding margin (in bins) of a float32 guess u = x·a + b against the float64 value, plus the guess rule's tolerance. */
function margin(X: f64, a: f64, b: f64, tol: f64): f32 {
  // x·a + b in float32 from float32 x: |error| ≤ 2^-24·(3·|x·a| + 2·|b| + 1) with |x| ≤ X (a and b
  // rounded to float32, one product, one sum); 6e-8 > 2^-24, and 1e-6 more for the float64 values.
  const m = tol + 6e-8 * (3 * X * Math.abs(a) + 2 * Math.abs(b) + 1) + 1e-6;
  // NaN (an infinite scale) or a wide margin: every value of this row or feature takes the exact rule.
  return m < 0.25 ? <f32>(0.5 - m) : -1;
}

/**
 * Pass-2 constants of the feature-last plain kernel, once per tile: per feature (F floats each at
 * `consts`) the BatchNorm guess u = x·a + b − ½ in output bins and its margin; then the input
 * histogram's a, b, margin. Returns 0 when the guesses cannot be used (an edge range that is not
 * finite): then every value takes the exact float64 rule.
 */
export function pass2PlainSetup(F: i32, scale: usize, off: usize, inE: usize, outE: usize, bins: i32, inTol: f64, outTol: f64, X: f64, consts: usize): i32 {
  const inLo = load<f64>(inE);
  const inInv = <f64>bins / (load<f64>(inE + (<usize>bins << 3)) - inLo);
  const outLo = load<f64>(outE);
  const outInv = <f64>bins / (load<f64>(outE + (<usize>bins << 3)) - outLo);
  if (!isFinite(inInv) || !isFinite(outInv) || !isFinite(X)) return 0;
  const a3 = consts;
  const b3 = a3 + (<usize>F << 2);
  const m3 = b3 + (<usize>F << 2);
  for (let f = 0; f < F; f++) {
    const a = load<f64>(scale + (<usize>f << 3)) * outInv;
    const b = (load<f64>(off + (<usize>f << 3)) - outLo) * outInv - 0.5;
    store<f32>(a3 + (<usize>f << 2), <f32>a);
    store<f32>(b3 + (<usize>f << 2), <f32>b);
    store<f32>(m3 + (<usize>f << 2), margin(X, a, b, outTol));
  }
  const c = m3 + (<usize>F << 2);
  const b0 = -inLo * inInv - 0.5;
  store<f32>(c, <f32>inInv);
  store<f32>(c + 4, <f32>b0);
  store<f32>(c + 8, margin(X, inInv, b0, inTol));
  return 1;
}

/** The exact float64 rule for the four values of feature f of a token (the kernels' reference). */
function exactBins(xs: f64, m: f64, rs: f64, rr: f64, sc: f64, ofs: f64, hIn: usize, hLn: usize, hRms: usize, hBn: usize, inLo: f64, inInv: f64, inTol: f64, inE: usize, outLo: f64, outInv: f64, outTol: f64, outE: usize, last: i32): void {
  bump(hIn, binOf(xs, inLo, inInv, inTol, 1 - inTol, inE, last));
  bump(hLn, binOf((xs - m) * rs, outLo, outInv, outTol, 1 - outTol, outE, last));
  bump(hRms, binOf(xs * rr, outLo, outInv, outTol, 1 - outTol, outE, last));
  bump(hBn, binOf(xs * sc + ofs, outLo, outInv, outTol, 1 - outTol, outE, last));
}

/**
 * Pass 2 over `n` all-finite tokens of F features (float32 at `x`), no affine, after
 * pass2PlainSetup (`guess` is what it returned). Token stats at `tok` (mean[n], rstd[n], rrms[n]);
 * BatchNorm scale/offset per feature (f64). Histograms: input, LayerNorm, RMSNorm, BatchNorm
 * counts (4·bins int32 at `hist`). The bin of each value is guessed in float32 from x (four values
 * at a time) and taken when it is farther than its rounding margin from a bin boundary, else (and
 * for every value when `guess` is 0) computed by the exact float64 rule of pass2.ts: the counts are
 * those of the JavaScript kernel. With bins ≤ 64 the guessed bins are counted in two joint tables
 * at `joint` (64×64 int32 each: input × BatchNorm, LayerNorm × RMSNorm), which the glue adds to
 * the histograms: half the memory updates. Per token it writes Σ(y−kBn) and Σ(y−kBn)² of the
 * BatchNorm output to `sums` (2 arrays of n) in the JavaScript kernel's order: even and odd
 * features of the first F & ~3 apart, then both, then the rest one by one.
 */
export function pass2Plain(x: usize, n: i32, F: i32, tok: usize, scale: usize, off: usize, hist: usize, joint: usize, sums: usize, inE: usize, outE: usize, bins: i32, inTol: f64, outTol: f64, kBn: f64, X: f64, consts: usize, guess: i32): void {
  const last = bins - 1;
  const inLo = load<f64>(inE);
  const inInv = <f64>bins / (load<f64>(inE + (<usize>bins << 3)) - inLo);
  const outLo = load<f64>(outE);
  const outInv = <f64>bins / (load<f64>(outE + (<usize>bins << 3)) - outLo);
  const hIn = hist;
  const hLn = hist + (<usize>bins << 2);
  const hRms = hLn + (<usize>bins << 2);
  const hBn = hRms + (<usize>bins << 2);
  const jA = joint;
  const jB = joint + (4096 << 2);
  const useJoint = bins <= 64;
  const a3 = consts;
  const b3 = a3 + (<usize>F << 2);
  const m3 = b3 + (<usize>F << 2);
  const c = m3 + (<usize>F << 2);
  const vA0 = f32x4.splat(load<f32>(c));
  const vB0 = f32x4.splat(load<f32>(c + 4));
  const vM0 = f32x4.splat(load<f32>(c + 8));
  const M = f32x4.splat(12582912.0); // 1.5·2^23: t = u + M rounds u to an integer, held in t's low bits
  const Mi = i32x4.splat(0x4b400000);
  const zero = i32x4.splat(0);
  const vLast = i32x4.splat(last);
  const Fe = guess !== 0 ? F & ~3 : 0;
  const Fl = F & ~3;
  const nb = <usize>n << 3;
  const vkBn = f64x2.splat(kBn);
  for (let t = 0; t < n; t++) {
    const q = x + (<usize>t * <usize>F << 2);
    const m = load<f64>(tok + (<usize>t << 3));
    const rs = load<f64>(tok + nb + (<usize>t << 3));
    const rr = load<f64>(tok + 2 * nb + (<usize>t << 3));
    const a1 = rs * outInv;
    const b1 = -(m * rs + outLo) * outInv - 0.5;
    const a2 = rr * outInv;
    const b2 = -outLo * outInv - 0.5;
    const vA1 = f32x4.splat(<f32>a1);
    const vB1 = f32x4.splat(<f32>b1);
    const vM1 = f32x4.splat(margin(X, a1, b1, outTol));
    const vA2 = f32x4.splat(<f32>a2);
    const vB2 = f32x4.splat(<f32>b2);
    const vM2 = f32x4.splat(margin(X, a2, b2, outTol));
    let acc = f64x2.splat(0);
    let acc2 = f64x2.splat(0);
    let f = 0;
    for (; f < Fe; f += 4) {
      const xv = v128.load(q + (<usize>f << 2));
      const f4 = <usize>f << 2;
      const u0 = f32x4.add(f32x4.mul(xv, vA0), vB0);
      const u1 = f32x4.add(f32x4.mul(xv, vA1), vB1);
      const u2 = f32x4.add(f32x4.mul(xv, vA2), vB2);
      const u3 = f32x4.add(f32x4.mul(xv, v128.load(a3 + f4)), v128.load(b3 + f4));
      const t0 = f32x4.add(u0, M);
      const t1 = f32x4.add(u1, M);
      const t2 = f32x4.add(u2, M);
      const t3 = f32x4.add(u3, M);
      // |u − round(u)| within the margin of ½ (a boundary), NaN, or a margin of −1: the exact rule.
      const ok = v128.and(
        v128.and(f32x4.le(f32x4.abs(f32x4.sub(u0, f32x4.sub(t0, M))), vM0), f32x4.le(f32x4.abs(f32x4.sub(u1, f32x4.sub(t1, M))), vM1)),
        v128.and(f32x4.le(f32x4.abs(f32x4.sub(u2, f32x4.sub(t2, M))), vM2), f32x4.le(f32x4.abs(f32x4.sub(u3, f32x4.sub(t3, M))), v128.load(m3 + f4))),
      );
      const fo = <usize>f << 3;
      if (!i32x4.all_true(ok)) {
        for (let j: usize = 0; j < 4; j++) {
          exactBins(<f64>load<f32>(q + f4 + (j << 2)), m, rs, rr, load<f64>(scale + fo + (j << 3)), load<f64>(off + fo + (j << 3)), hIn, hLn, hRms, hBn, inLo, inInv, inTol, inE, outLo, outInv, outTol, outE, last);
        }
      } else {
        // Clamped like the exact rule: padding tokens may lie outside the valid values' edges.
        const k0 = i32x4.min_s(i32x4.max_s(i32x4.sub(t0, Mi), zero), vLast);
        const k1 = i32x4.min_s(i32x4.max_s(i32x4.sub(t1, Mi), zero), vLast);
        const k2 = i32x4.min_s(i32x4.max_s(i32x4.sub(t2, Mi), zero), vLast);
        const k3 = i32x4.min_s(i32x4.max_s(i32x4.sub(t3, Mi), zero), vLast);
        if (useJoint) {
          const j03 = i32x4.add(i32x4.shl(k0, 6), k3);
          const j12 = i32x4.add(i32x4.shl(k1, 6), k2);
          bump(jA, i32x4.extract_lane(j03, 0));
          bump(jB, i32x4.extract_lane(j12, 0));
          bump(jA, i32x4.extract_lane(j03, 1));
          bump(jB, i32x4.extract_lane(j12, 1));
          bump(jA, i32x4.extract_lane(j03, 2));
          bump(jB, i32x4.extract_lane(j12, 2));
          bump(jA, i32x4.extract_lane(j03, 3));
          bump(jB, i32x4.extract_lane(j12, 3));
        } else {
          bump(hIn, i32x4.extract_lane(k0, 0));
          bump(hLn, i32x4.extract_lane(k1, 0));
          bump(hRms, i32x4.extract_lane(k2, 0));
          bump(hBn, i32x4.extract_lane(k3, 0));
          bump(hIn, i32x4.extract_lane(k0, 1));
          bump(hLn, i32x4.extract_lane(k1, 1));
          bump(hRms, i32x4.extract_lane(k2, 1));
          bump(hBn, i32x4.extract_lane(k3, 1));
          bump(hIn, i32x4.extract_lane(k0, 2));
          bump(hLn, i32x4.extract_lane(k1, 2));
          bump(hRms, i32x4.extract_lane(k2, 2));
          bump(hBn, i32x4.extract_lane(k3, 2));
          bump(hIn, i32x4.extract_lane(k0, 3));
          bump(hLn, i32x4.extract_lane(k1, 3));
          bump(hRms, i32x4.extract_lane(k2, 3));
          bump(hBn, i32x4.extract_lane(k3, 3));
        }
      }
      // BatchNorm output sums in float64: lane 0 the even features, lane 1 the odd ones.
      const xl = f64x2.promote_low_f32x4(xv);
      const xh = f64x2.promote_low_f32x4(i8x16.shuffle(xv, xv, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
      const dl = f64x2.sub(f64x2.add(f64x2.mul(xl, v128.load(scale + fo)), v128.load(off + fo)), vkBn);
      const dh = f64x2.sub(f64x2.add(f64x2.mul(xh, v128.load(scale + fo + 16)), v128.load(off + fo + 16)), vkBn);
      acc = f64x2.add(f64x2.add(acc, dl), dh);
      acc2 = f64x2.add(f64x2.add(acc2, f64x2.mul(dl, dl)), f64x2.mul(dh, dh));
    }
    // Without guesses: the same sums in the same order, every bin by the exact rule.
    let s0 = f64x2.extract_lane(acc, 0);
    let s1 = f64x2.extract_lane(acc, 1);
    let q0 = f64x2.extract_lane(acc2, 0);
    let q1 = f64x2.extract_lane(acc2, 1);
    for (; f < Fl; f += 2) {
      const x0 = <f64>load<f32>(q + (<usize>f << 2));
      const x1 = <f64>load<f32>(q + (<usize>(f + 1) << 2));
      const sc0 = load<f64>(scale + (<usize>f << 3));
      const sc1 = load<f64>(scale + (<usize>(f + 1) << 3));
      const ofs0 = load<f64>(off + (<usize>f << 3));
      const ofs1 = load<f64>(off + (<usize>(f + 1) << 3));
      exactBins(x0, m, rs, rr, sc0, ofs0, hIn, hLn, hRms, hBn, inLo, inInv, inTol, inE, outLo, outInv, outTol, outE, last);
      exactBins(x1, m, rs, rr, sc1, ofs1, hIn, hLn, hRms, hBn, inLo, inInv, inTol, inE, outLo, outInv, outTol, outE, last);
      const d0 = x0 * sc0 + ofs0 - kBn;
      const d1 = x1 * sc1 + ofs1 - kBn;
      s0 += d0;
      q0 += d0 * d0;
      s1 += d1;
      q1 += d1 * d1;
    }
    let s = s0 + s1;
    let sq = q0 + q1;
    for (; f < F; f++) {
      const xs = <f64>load<f32>(q + (<usize>f << 2));
      const sc = load<f64>(scale + (<usize>f << 3));
      const ofs = load<f64>(off + (<usize>f << 3));
      exactBins(xs, m, rs, rr, sc, ofs, hIn, hLn, hRms, hBn, inLo, inInv, inTol, inE, outLo, outInv, outTol, outE, last);
      const d = xs * sc + ofs - kBn;
      s += d;
      sq += d * d;
    }
    store<f64>(sums + (<usize>t << 3), s);
    store<f64>(sums + nb + (<usize>t << 3), sq);
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

// ---------------------------------------------------------------------------------------------------
// Report reductions (histogram.ts, batchDependence.ts): the per-token and per-feature series of the
// report are summarized once per analysis, on the thread that builds the report, where JavaScript
// that runs once per process stays in V8's interpreter (every float a heap object). Same operations
// in the same order as the JavaScript functions, so the same bits. `valid` is a byte per value
// (1 = include) or 0 for all.

function included(valid: usize, i: i32): bool {
  return valid == 0 || load<u8>(valid + <usize>i) == 1;
}

/** summarize(): count, mean, biased std, min, max of the finite included values into out[0..5). */
export function seriesSummary(v: usize, n: i32, valid: usize, out: usize): void {
  let c = 0;
  let s: f64 = 0;
  let lo: f64 = Infinity;
  let hi: f64 = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = load<f64>(v + (<usize>i << 3));
    if (x - x != 0 || !included(valid, i)) continue;
    c++;
    s += x;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  store<f64>(out, <f64>c);
  if (c == 0) return;
  const mean = s / <f64>c;
  let m2: f64 = 0;
  for (let i = 0; i < n; i++) {
    const x = load<f64>(v + (<usize>i << 3));
    if (x - x != 0 || !included(valid, i)) continue;
    m2 += (x - mean) * (x - mean);
  }
  store<f64>(out + 8, mean);
  store<f64>(out + 16, Math.sqrt(m2 / <f64>c));
  store<f64>(out + 24, lo);
  store<f64>(out + 32, hi);
}

/** histogramOf()'s first loop: min and max of the finite included values into out[0..2). */
export function seriesRange(v: usize, n: i32, valid: usize, out: usize): void {
  let lo: f64 = Infinity;
  let hi: f64 = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = load<f64>(v + (<usize>i << 3));
    if (x - x != 0 || !included(valid, i)) continue;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  store<f64>(out, lo);
  store<f64>(out + 8, hi);
}

/** histogramOf()'s counts (i32 at `counts`, zeroed here) over `bins + 1` edges by binIndex(); returns the total. */
export function seriesHistogram(v: usize, n: i32, valid: usize, edges: usize, bins: i32, counts: usize): i32 {
  memory.fill(counts, 0, <usize>bins << 2);
  const lo = load<f64>(edges);
  const inv = <f64>bins / (load<f64>(edges + (<usize>bins << 3)) - lo);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const x = load<f64>(v + (<usize>i << 3));
    if (x - x != 0 || !included(valid, i)) continue;
    let k = toInt32((x - lo) * inv);
    if (k < 0) k = 0;
    else if (k >= bins) k = bins - 1;
    if (k > 0 && x < load<f64>(edges + (<usize>k << 3))) k--;
    else if (k < bins - 1 && x >= load<f64>(edges + (<usize>(k + 1) << 3))) k++;
    bump(counts, k);
    total++;
  }
  return total;
}

/** downsampleSeries(): per bucket of `bucketSize` values, mean, min and max of the non-NaN ones (NaN when none). */
export function seriesDownsample(v: usize, n: i32, bucketSize: i32, points: i32, outMean: usize, outMin: usize, outMax: usize): void {
  for (let k = 0; k < points; k++) {
    let s: f64 = 0;
    let c = 0;
    let lo: f64 = Infinity;
    let hi: f64 = -Infinity;
    const end = min(n, (k + 1) * bucketSize);
    for (let i = k * bucketSize; i < end; i++) {
      const x = load<f64>(v + (<usize>i << 3));
      if (x != x) continue;
      s += x;
      c++;
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    const o = <usize>k << 3;
    store<f64>(outMean + o, c > 0 ? s / <f64>c : NaN);
    store<f64>(outMin + o, c > 0 ? lo : NaN);
    store<f64>(outMax + o, c > 0 ? hi : NaN);
  }
}

/** median(): the median of the finite values of v[0..n), selected in `a` (n f64; may be `v` itself, which is then reordered); NaN when none. */
export function seriesMedian(v: usize, n: i32, a: usize): f64 {
  let m = 0;
  for (let i = 0; i < n; i++) {
    const x = load<f64>(v + (<usize>i << 3));
    if (x - x == 0) store<f64>(a + (<usize>(m++) << 3), x);
  }
  if (m == 0) return NaN;
  const mid = m >> 1;
  const upper = selectKth(a, m, mid);
  if (m % 2 == 1) return upper;
  let lower: f64 = -Infinity;
  for (let i = 0; i < mid; i++) {
    const x = load<f64>(a + (<usize>i << 3));
    if (x > lower) lower = x;
  }
  return (lower + upper) / 2;
}

/** Hoare quickselect with a median-of-three pivot, as histogram.ts's selectKth. */
function selectKth(a: usize, n: i32, k: i32): f64 {
  let lo = 0;
  let hi = n - 1;
  while (hi > lo) {
    const m = (lo + hi) >>> 1;
    const x = load<f64>(a + (<usize>lo << 3));
    const y = load<f64>(a + (<usize>m << 3));
    const z = load<f64>(a + (<usize>hi << 3));
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (load<f64>(a + (<usize>i << 3)) < pivot) i++;
      while (load<f64>(a + (<usize>j << 3)) > pivot) j--;
      if (i <= j) {
        const pi = a + (<usize>i << 3);
        const pj = a + (<usize>j << 3);
        const t = load<f64>(pi);
        store<f64>(pi, load<f64>(pj));
        store<f64>(pj, t);
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return load<f64>(a + (<usize>k << 3));
}

/**
 * batchDependence.ts's accumulateGroup for every group of `g` units: merges the per-(unit, feature)
 * moments (5 arrays of U·F f64 at `cells`: count, mean, M2, min, max) of each group of consecutive
 * units, feature by feature in unit order, into the running sums at `acc` (6 f64) and the variance
 * ratios at `ratios`, group after group and feature after feature. `full` holds 3 arrays of F f64:
 * the whole batch's mean, rstd and std; `group` is 5·F f64 of scratch (the group's moments, filled
 * unit after unit so the cells are read in memory order; the same operations as unit by unit per
 * feature).
 */
export function subBatchSize(cells: usize, U: i32, F: i32, g: i32, eps: f64, full: usize, ratios: usize, acc: usize, group: usize): void {
  const plane = <usize>U * <usize>F << 3;
  const row = <usize>F << 3;
  const gN = group;
  const gMean = group + row;
  const gM2 = group + 2 * row;
  const gLo = group + 3 * row;
  const gHi = group + 4 * row;
  const fMean = full;
  const fRstd = full + row;
  const fStd = full + 2 * row;
  let weightedSq = load<f64>(acc);
  let counted = load<f64>(acc + 8);
  let maxShift = load<f64>(acc + 16);
  let maxMeanDeviation = load<f64>(acc + 24);
  let minCount = load<f64>(acc + 32);
  let ratioCount = <i32>load<f64>(acc + 40);
  const groups = U / g;
  for (let kg = 0; kg < groups; kg++) {
    memory.fill(group, 0, 3 * row);
    for (let f = 0; f < F; f++) {
      store<f64>(gLo + (<usize>f << 3), Infinity);
      store<f64>(gHi + (<usize>f << 3), -Infinity);
    }
    for (let u = kg * g; u < (kg + 1) * g; u++) {
      const base = cells + <usize>u * row;
      for (let f = 0; f < F; f++) {
        const o = <usize>f << 3;
        const c = base + o;
        const nb = load<f64>(c);
        if (nb == 0) continue;
        const n = load<f64>(gN + o);
        const mean = load<f64>(gMean + o);
        const delta = load<f64>(c + plane) - mean;
        const nn = n + nb;
        store<f64>(gMean + o, mean + (delta * nb) / nn);
        store<f64>(gM2 + o, load<f64>(gM2 + o) + (load<f64>(c + 2 * plane) + ((delta * delta * n) / nn) * nb));
        store<f64>(gN + o, nn);
        const a = load<f64>(c + 3 * plane);
        const b = load<f64>(c + 4 * plane);
        if (a < load<f64>(gLo + o)) store<f64>(gLo + o, a);
        if (b > load<f64>(gHi + o)) store<f64>(gHi + o, b);
      }
    }
    for (let f = 0; f < F; f++) {
      const fo = <usize>f << 3;
      const n = load<f64>(gN + fo);
      if (n == 0) continue;
      const mean = load<f64>(gMean + fo);
      const m2 = load<f64>(gM2 + fo);
      const lo = load<f64>(gLo + fo);
      const hi = load<f64>(gHi + fo);
      if (n < minCount) minCount = n;
      const v = m2 / n;
      const rs = v + eps > 0 ? 1 / Math.sqrt(v + eps) : 0;
      const r = load<f64>(fRstd + fo);
      const d1 = rs - r;
      const d0 = load<f64>(fMean + fo) * r - mean * rs;
      const shiftMean = d1 * mean + d0;
      weightedSq += n * (d1 * d1 * v + shiftMean * shiftMean);
      counted += n;
      const s = Math.max(Math.abs(d1 * lo + d0), Math.abs(d1 * hi + d0));
      if (s > maxShift) maxShift = s;
      const sd = load<f64>(fStd + fo);
      if (sd > 0) {
        const dev = Math.abs(mean - load<f64>(fMean + fo)) / sd;
        if (dev > maxMeanDeviation) maxMeanDeviation = dev;
        store<f64>(ratios + (<usize>(ratioCount++) << 3), v / (sd * sd));
      }
    }
  }
  store<f64>(acc, weightedSq);
  store<f64>(acc + 8, counted);
  store<f64>(acc + 16, maxShift);
  store<f64>(acc + 24, maxMeanDeviation);
  store<f64>(acc + 32, minCount);
  store<f64>(acc + 40, <f64>ratioCount);
}

// ---------------------------------------------------------------------------------------------------
// The merge of the pass-1 partials and the statistics derived from it (moments.ts, pass1.ts,
// statistics.ts): the step between the passes, while the workers wait. Same operations in the same
// order as the JavaScript.

/** mergeMomentArrays(): Chan merge of `count` cells of b (n, mean, M2 at bN/bMean/bM2) into a, as mergeMomentsAt. */
export function momentsMerge(aN: usize, aMean: usize, aM2: usize, bN: usize, bMean: usize, bM2: usize, count: i32): void {
  for (let i = 0; i < count; i++) {
    const o = <usize>i << 3;
    const nb = load<f64>(bN + o);
    if (nb == 0) continue;
    const n1 = load<f64>(aN + o);
    if (n1 == 0) {
      store<f64>(aN + o, nb);
      store<f64>(aMean + o, load<f64>(bMean + o));
      store<f64>(aM2 + o, load<f64>(bM2 + o));
      continue;
    }
    const n = n1 + nb;
    const am = load<f64>(aMean + o);
    const delta = load<f64>(bMean + o) - am;
    store<f64>(aN + o, n);
    store<f64>(aMean + o, am + (delta * nb) / n);
    store<f64>(aM2 + o, load<f64>(aM2 + o) + load<f64>(bM2 + o) + ((delta * delta * n1) / n) * nb);
  }
}

/** The min/max loop of mergePass1Into(): a = min(a, b), max(a, b) cell by cell. */
export function minMaxMerge(aMin: usize, aMax: usize, bMin: usize, bMax: usize, count: i32): void {
  for (let i = 0; i < count; i++) {
    const o = <usize>i << 3;
    const lo = load<f64>(bMin + o);
    const hi = load<f64>(bMax + o);
    if (lo < load<f64>(aMin + o)) store<f64>(aMin + o, lo);
    if (hi > load<f64>(aMax + o)) store<f64>(aMax + o, hi);
  }
}

/** moments.ts's mergeRange over entries idx(lo..hi), where idx(j) = base + j·step, into stack[3·level..]. */
function treeRange(n: usize, mean: usize, m2: usize, base: i32, step: i32, indices: usize, lo: i32, hi: i32, stack: usize, level: i32): void {
  const o = stack + (<usize>(3 * level) << 3);
  if (hi - lo == 1) {
    const i = indices != 0 ? load<i32>(indices + (<usize>lo << 2)) : base + lo * step;
    const p = <usize>i << 3;
    const c = load<f64>(n + p);
    store<f64>(o, c);
    store<f64>(o + 8, c > 0 ? load<f64>(mean + p) : 0);
    store<f64>(o + 16, c > 0 ? load<f64>(m2 + p) : 0);
    return;
  }
  if (hi == lo) {
    store<f64>(o, 0);
    store<f64>(o + 8, 0);
    store<f64>(o + 16, 0);
    return;
  }
  const mid = <i32>(<u32>(lo + hi) >>> 1);
  treeRange(n, mean, m2, base, step, indices, lo, mid, stack, level + 1);
  const an = load<f64>(o + 24);
  const am = load<f64>(o + 32);
  const a2 = load<f64>(o + 40);
  treeRange(n, mean, m2, base, step, indices, mid, hi, stack, level + 1);
  const bn = load<f64>(o + 24);
  const bm = load<f64>(o + 32);
  const b2 = load<f64>(o + 40);
  if (bn == 0) {
    store<f64>(o, an);
    store<f64>(o + 8, am);
    store<f64>(o + 16, a2);
  } else if (an == 0) {
    store<f64>(o, bn);
    store<f64>(o + 8, bm);
    store<f64>(o + 16, b2);
  } else {
    const nn = an + bn;
    const delta = bm - am;
    store<f64>(o, nn);
    store<f64>(o + 8, am + (delta * bn) / nn);
    store<f64>(o + 16, a2 + b2 + ((delta * delta * an) / nn) * bn);
  }
}

/**
 * statistics.ts's mergeOverUnits: per feature f, the balanced moments tree over units u (cells u·F + f)
 * into outN/outMean/outM2 (mean NaN when empty), and the min/max over units when min ≠ 0.
 */
export function unitTrees(n: usize, mean: usize, m2: usize, min: usize, max: usize, U: i32, F: i32, outN: usize, outMean: usize, outM2: usize, outMin: usize, outMax: usize, stack: usize): void {
  for (let f = 0; f < F; f++) {
    treeRange(n, mean, m2, f, F, 0, 0, U, stack, 0);
    const o = <usize>f << 3;
    const c = load<f64>(stack);
    store<f64>(outN + o, c);
    store<f64>(outMean + o, c > 0 ? load<f64>(stack + 8) : NaN);
    store<f64>(outM2 + o, load<f64>(stack + 16));
    if (min != 0) {
      let lo: f64 = Infinity;
      let hi: f64 = -Infinity;
      for (let u = 0; u < U; u++) {
        const p = (<usize>u * <usize>F + <usize>f) << 3;
        const a = load<f64>(min + p);
        const b = load<f64>(max + p);
        if (a < lo) lo = a;
        if (b > hi) hi = b;
      }
      store<f64>(outMin + o, lo);
      store<f64>(outMax + o, hi);
    }
  }
}

/** mergeMomentsTree() over `count` indices (i32 at `indices`) into stack[0..3). */
export function indexTree(n: usize, mean: usize, m2: usize, indices: usize, count: i32, stack: usize): void {
  treeRange(n, mean, m2, 0, 0, indices, 0, count, stack, 0);
}

/**
 * computePass1Statistics()'s per-token loop (tokenStatistics) and the scan for the global tree:
 * the LayerNorm mean, variance, rstd and RMSNorm mean square, rms, rrms of each token (6 arrays of
 * T f64 at `out`, NaN for a token without finite values); the indices of tokens with values (i32
 * at `indices`) and their min/max into minMax[0..2). Returns how many tokens have values.
 */
export function tokenStats(count: usize, mean: usize, m2: usize, sumSq: usize, tmin: usize, tmax: usize, T: i32, eps: f64, out: usize, indices: usize, minMax: usize): i32 {
  const plane = <usize>T << 3;
  let k = 0;
  let lo: f64 = Infinity;
  let hi: f64 = -Infinity;
  for (let t = 0; t < T; t++) {
    const o = <usize>t << 3;
    const n = load<f64>(count + o);
    if (n == 0) {
      for (let j: usize = 0; j < 6; j++) store<f64>(out + j * plane + o, NaN);
      continue;
    }
    store<f64>(out + o, load<f64>(mean + o));
    const v = load<f64>(m2 + o) / n;
    store<f64>(out + plane + o, v);
    const a = v + eps;
    store<f64>(out + 2 * plane + o, a > 0 ? 1 / Math.sqrt(a) : 0);
    const ms = load<f64>(sumSq + o) / n;
    store<f64>(out + 3 * plane + o, ms);
    store<f64>(out + 4 * plane + o, Math.sqrt(ms));
    const b = ms + eps;
    store<f64>(out + 5 * plane + o, b > 0 ? 1 / Math.sqrt(b) : 0);
    store<i32>(indices + (<usize>(k++) << 2), t);
    const x = load<f64>(tmin + o);
    const y = load<f64>(tmax + o);
    if (x < lo) lo = x;
    if (y > hi) hi = y;
  }
  store<f64>(minMax, lo);
  store<f64>(minMax + 8, hi);
  return k;
}

/**
 * buildReport.ts's outputMomentsInto: per-token output mean and std from pass 2's shifted sums
 * Σ(y−K), Σ(y−K)² (NaN for a token without values). The shift K is `shift`, or a[t]·b[t]·shift when
 * a ≠ 0 (RMSNorm: mean · rrms · mean weight).
 */
export function outputMoments(sum: usize, sq: usize, count: usize, T: i32, shift: f64, a: usize, b: usize, outMean: usize, outStd: usize): void {
  for (let t = 0; t < T; t++) {
    const o = <usize>t << 3;
    const n = load<f64>(count + o);
    if (n == 0) {
      store<f64>(outMean + o, NaN);
      store<f64>(outStd + o, NaN);
      continue;
    }
    const d = load<f64>(sum + o) / n;
    const k = a != 0 ? load<f64>(a + o) * load<f64>(b + o) * shift : shift;
    store<f64>(outMean + o, k + d);
    store<f64>(outStd + o, Math.sqrt(Math.max(0, load<f64>(sq + o) / n - d * d)));
  }
}

/**
 * pass2Context.ts's widenNormalizedBounds over n tokens: widens the range at `b` (zLo, zHi, uLo,
 * uHi) by (min − mean)·rstd … (max − mean)·rstd and min·rrms … max·rrms of every token with values
 * whose mask byte (at `mask`, when not 0) is not 0. Six arrays of n f64 at `tok`: min, max, count,
 * LayerNorm mean, rstd, RMSNorm rrms.
 */
export function normalizedBounds(tok: usize, n: i32, mask: usize, b: usize): void {
  const plane = <usize>n << 3;
  let zLo = load<f64>(b);
  let zHi = load<f64>(b + 8);
  let uLo = load<f64>(b + 16);
  let uHi = load<f64>(b + 24);
  for (let k = 0; k < n; k++) {
    const o = <usize>k << 3;
    if ((mask != 0 && load<u8>(mask + <usize>k) == 0) || load<f64>(tok + 2 * plane + o) == 0) continue;
    const m = load<f64>(tok + 3 * plane + o);
    const r = load<f64>(tok + 4 * plane + o);
    const rr = load<f64>(tok + 5 * plane + o);
    const lo = load<f64>(tok + o);
    const hi = load<f64>(tok + plane + o);
    const a = (lo - m) * r;
    const c = (hi - m) * r;
    if (a < zLo) zLo = a;
    if (c > zHi) zHi = c;
    if (lo * rr < uLo) uLo = lo * rr;
    if (hi * rr > uHi) uHi = hi * rr;
  }
  store<f64>(b, zLo);
  store<f64>(b + 8, zHi);
  store<f64>(b + 16, uLo);
  store<f64>(b + 24, uHi);
}
