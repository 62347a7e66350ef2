"""Writes the dumps of `npm run bench:sweep` (scripts/bench-sweep.mjs) into bench-data/:
sweep16.safetensors: 16 sites `layers.N.input` of (4, 1024, 4096) float32 (1 GiB);
one1g.safetensors: one `hidden_states` of (64, 1024, 4096) float32 (the same 1 GiB in one tensor).
Written block by block so the script itself stays small in memory."""
import json
import os
import struct
import sys

import numpy as np

out = sys.argv[1] if len(sys.argv) > 1 else 'bench-data'
os.makedirs(out, exist_ok=True)
LAYERS, B, T, H = 16, 4, 1024, 4096


def write(path, tensors):
    """tensors: list of (name, shape, count of (B, T, H) blocks); data made per block."""
    header, offset = {}, 0
    for name, shape, _ in tensors:
        n = int(np.prod(shape)) * 4
        header[name] = {'dtype': 'F32', 'shape': list(shape), 'data_offsets': [offset, offset + n]}
        offset += n
    text = json.dumps(header).encode()
    text += b' ' * ((8 - len(text) % 8) % 8)
    rng = np.random.default_rng(0)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for k, (_, _, blocks) in enumerate(tensors):
            for b in range(blocks):
                x = rng.standard_normal((B, T, H), dtype=np.float32) * (1 + 0.1 * k)
                x[..., 7] *= 30  # a massive-activation feature
                f.write(x.tobytes())


if not os.path.exists(os.path.join(out, 'sweep16.safetensors')):
    write(os.path.join(out, 'sweep16.safetensors'), [(f'layers.{i}.input', (B, T, H), 1) for i in range(LAYERS)])
if not os.path.exists(os.path.join(out, 'one1g.safetensors')):
    write(os.path.join(out, 'one1g.safetensors'), [('hidden_states', (B * LAYERS, T, H), LAYERS)])
