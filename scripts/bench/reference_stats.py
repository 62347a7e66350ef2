#!/usr/bin/env python3
"""Reference for scripts/bench.mjs: the statistics and histograms of `normlens analyze` in PyTorch
(float32, like its kernels; 2 threads) or numpy (float64). Prints the in-process seconds (after
imports, including reading the file) as JSON on stdout.

    python3 scripts/bench/reference_stats.py torch|numpy FILE.npy [BINS]
"""
import json
import sys
import time

mode, path = sys.argv[1], sys.argv[2]
bins = int(sys.argv[3]) if len(sys.argv) > 3 else 64
import numpy as np  # noqa: E402

if mode == 'torch':
    import torch  # noqa: E402
    torch.set_num_threads(2)

start = time.perf_counter()
if mode == 'torch':
    x = torch.from_numpy(np.load(path))
    H = x.shape[-1]
    t = x.reshape(-1, H)
    var, mean = torch.var_mean(t, dim=1, correction=0)
    rms = t.pow(2).mean(dim=1).sqrt()
    bvar, bmean = torch.var_mean(t, dim=0, correction=0)
    gvar, gmean = torch.var_mean(t, correction=0)
    ln = torch.nn.functional.layer_norm(t, (H,))
    rn = torch.nn.functional.rms_norm(t, (H,), eps=1e-5)
    bn = torch.nn.functional.batch_norm(t, None, None, training=True)
    hists = [torch.histc(a, bins=bins, min=float(a.min()), max=float(a.max())) for a in (t, ln, rn, bn)]
    out = [float(mean.sum()), float(var.sum()), float(rms.sum()), float(bmean.sum()), float(bvar.sum()), float(gmean), float(gvar), float(t.min()), float(t.max())]
else:
    x = np.load(path).astype(np.float64)
    H = x.shape[-1]
    t = x.reshape(-1, H)
    mean = t.mean(axis=1)
    var = t.var(axis=1)
    rms = np.sqrt((t * t).mean(axis=1))
    bmean = t.mean(axis=0)
    bvar = t.var(axis=0)
    ln = (t - mean[:, None]) / np.sqrt(var[:, None] + 1e-5)
    rn = t / np.sqrt(rms[:, None] ** 2 + 1e-5)
    bn = (t - bmean) / np.sqrt(bvar + 1e-5)
    hists = [np.histogram(a, bins=bins)[0] for a in (t, ln, rn, bn)]
    out = [float(mean.sum()), float(var.sum()), float(rms.sum()), float(bmean.sum()), float(bvar.sum()), float(t.mean()), float(t.std()), float(t.min()), float(t.max())]
elapsed = time.perf_counter() - start
print(json.dumps({'mode': mode, 'seconds': elapsed, 'check': out}))
