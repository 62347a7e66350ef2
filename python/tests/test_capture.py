"""Tests of normlens_capture on real PyTorch modules. Run: python3 -m unittest discover -s python/tests"""
import json
import os
import sys
import tempfile
import unittest
import zipfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors import safe_open

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))
from normlens_capture import METADATA_KEY, CaptureLimitError, capture, is_norm_module  # noqa: E402


class LlamaRMSNorm(nn.Module):
    """The Hugging Face Llama RMSNorm, verbatim in behaviour (float32 inside, cast back)."""

    def __init__(self, hidden_size, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)


class LlamaStack(nn.Module):
    def __init__(self, d=16, layers=3):
        super().__init__()
        self.layers = nn.ModuleList(nn.ModuleDict({'input_layernorm': LlamaRMSNorm(d), 'mlp': nn.Linear(d, d)}) for _ in range(layers))
        self.norm = LlamaRMSNorm(d)

    def forward(self, x):
        for layer in self.layers:
            x = x + layer['mlp'](layer['input_layernorm'](x))
        return self.norm(x)


class UNetBlock(nn.Module):
    def __init__(self, c=32):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, c)
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.norm2 = nn.GroupNorm(8, c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        return x + self.conv2(F.silu(self.norm2(h)))


def cnn():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8))


def spy(model):
    """Independent hooks recording what each norm really received and returned (for comparison)."""
    seen, handles = {}, []
    for name, m in model.named_modules():
        if is_norm_module(m):
            def hook(mod, args, out, name=name):
                seen.setdefault(name, []).append((args[0].detach().clone(), out.detach().clone()))
            handles.append(m.register_forward_hook(hook))
    return seen, handles


def read_safetensors(path):
    with safe_open(path, framework='pt') as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()


def hook_count(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


class CaptureTest(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def path(self, name='dump.safetensors'):
        return os.path.join(self.dir.name, name)

    def test_transformer_encoder_with_padding_mask(self):
        layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
        model = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
        x = torch.randn(2, 5, 16)
        mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
        seen, handles = spy(model)
        with capture(model, self.path(), max_calls=1, mask=mask) as cap:
            model(x, src_key_padding_mask=mask == 0)
        for h in handles:
            h.remove()
        tensors, meta = read_safetensors(self.path())
        expected = {f'layers.{i}.{n}.{r}' for i in range(2) for n in ('norm1', 'norm2') for r in ('input', 'output', 'weight', 'bias')}
        self.assertEqual(set(tensors), expected | {'attention_mask'})
        self.assertEqual(cap.sites, ['layers.0.norm1', 'layers.0.norm2', 'layers.1.norm1', 'layers.1.norm2'])
        for name, [(inp, out)] in seen.items():
            self.assertTrue(torch.equal(tensors[f'{name}.input'], inp), name)
            self.assertTrue(torch.equal(tensors[f'{name}.output'], out), name)
            replay = F.layer_norm(inp, (16,), tensors[f'{name}.weight'], tensors[f'{name}.bias'], 1e-5)
            self.assertTrue(torch.allclose(replay, out, atol=1e-6), name)
        self.assertTrue(torch.equal(tensors['attention_mask'], mask))
        info = json.loads(meta[METADATA_KEY])
        self.assertEqual(info['mask'], 'attention_mask')
        self.assertEqual(info['torch'], torch.__version__)
        site = info['sites']['layers.0.norm1']
        self.assertEqual(site['class'], 'LayerNorm')
        self.assertEqual(site['eps'], 1e-5)
        self.assertEqual(site['normalized_shape'], [16])
        self.assertFalse(site['training'])
        self.assertEqual(hook_count(model), 0)
        self.assertEqual(os.listdir(self.dir.name), ['dump.safetensors'])

    def test_batchnorm2d_training_records_running_stats_before_update(self):
        model = cnn().train()
        x1, x2 = torch.randn(4, 3, 6, 6), torch.randn(4, 3, 6, 6) * 2 + 1
        seen, handles = spy(model)
        bn = model[1]
        before = (bn.running_mean.clone(), bn.running_var.clone())
        with capture(model, self.path()) as cap:
            model(x1)
            middle = (bn.running_mean.clone(), bn.running_var.clone())
            model(x2)
        for h in handles:
            h.remove()
        tensors, meta = read_safetensors(self.path())
        self.assertEqual(cap.sites, ['1.call0', '1.call1', '4.call0', '4.call1'])
        self.assertTrue(torch.equal(tensors['1.call0.running_mean'], before[0]))
        self.assertTrue(torch.equal(tensors['1.call0.running_var'], before[1]))
        self.assertTrue(torch.equal(tensors['1.call1.running_mean'], middle[0]))
        self.assertTrue(torch.equal(tensors['1.call1.running_var'], middle[1]))
        self.assertFalse(torch.equal(middle[0], bn.running_mean))
        for call in (0, 1):
            inp, out = seen['1'][call]
            self.assertTrue(torch.equal(tensors[f'1.call{call}.input'], inp))
            self.assertTrue(torch.equal(tensors[f'1.call{call}.output'], out))
            replay = F.batch_norm(inp, None, None, tensors[f'1.call{call}.weight'], tensors[f'1.call{call}.bias'], True, 0.0, 1e-5)
            self.assertTrue(torch.allclose(replay, out, atol=1e-5))
        site = json.loads(meta[METADATA_KEY])['sites']['1.call1']
        self.assertEqual((site['class'], site['training'], site['call'], site['num_features']), ('BatchNorm2d', True, 1, 8))

    def test_max_calls_keeps_first_calls_with_plain_names(self):
        model = cnn().eval()
        x = torch.randn(2, 3, 4, 4)
        with capture(model, self.path(), max_calls=1) as cap:
            model(x)
            model(x * 3)
        tensors, _ = read_safetensors(self.path())
        self.assertEqual(cap.sites, ['1', '4'])
        self.assertIn('1.input', tensors)
        self.assertTrue(torch.equal(tensors['1.input'], model[0](x)))

    def test_llama_rmsnorm_stack_in_bfloat16(self):
        model = LlamaStack().to(torch.bfloat16)
        x = torch.randn(2, 4, 16, dtype=torch.bfloat16)
        seen, handles = spy(model)
        with capture(model, self.path()) as cap:
            model(x)
        for h in handles:
            h.remove()
        tensors, meta = read_safetensors(self.path())
        self.assertEqual(cap.sites, ['layers.0.input_layernorm', 'layers.1.input_layernorm', 'layers.2.input_layernorm', 'norm'])
        for name, [(inp, out)] in seen.items():
            for role, value in (('input', inp), ('output', out)):
                got = tensors[f'{name}.{role}']
                self.assertEqual(got.dtype, torch.bfloat16)
                self.assertTrue(torch.equal(got, value))
            self.assertNotIn(f'{name}.bias', tensors)
        site = json.loads(meta[METADATA_KEY])['sites']['norm']
        self.assertEqual((site['class'], site['eps'], site['normalized_shape']), ('LlamaRMSNorm', 1e-6, [16]))

    def test_npz_upcasts_bfloat16_and_notes_it(self):
        model = LlamaStack(layers=1).to(torch.bfloat16)
        x = torch.randn(2, 3, 16, dtype=torch.bfloat16)
        path = self.path('dump.npz')
        with capture(model, path, mask=torch.ones(2, 3, dtype=torch.bool)):
            model(x)
        with np.load(path) as z:
            self.assertEqual(z['norm.input'].dtype, np.float32)
            self.assertEqual(z['attention_mask'].dtype, np.bool_)
            self.assertTrue(np.array_equal(z['layers.0.input_layernorm.input'], x.float().numpy()))
        with zipfile.ZipFile(path) as archive:
            meta = json.loads(json.loads(archive.read('__metadata__.json'))['normlens.capture'])
        self.assertEqual(meta['upcast']['from'], 'bfloat16')
        self.assertIn('norm.output', meta['upcast']['tensors'])
        self.assertEqual(os.listdir(self.dir.name), ['dump.npz'])

    def test_groupnorm_unet_block(self):
        model = UNetBlock()
        x = torch.randn(2, 32, 6, 6)
        seen, handles = spy(model)
        with capture(model, self.path()):
            model(x)
        for h in handles:
            h.remove()
        tensors, meta = read_safetensors(self.path())
        for name in ('norm1', 'norm2'):
            inp, out = seen[name][0]
            self.assertTrue(torch.equal(tensors[f'{name}.input'], inp))
            self.assertTrue(torch.equal(tensors[f'{name}.output'], out))
            self.assertTrue(torch.allclose(F.group_norm(inp, 8, tensors[f'{name}.weight'], tensors[f'{name}.bias'], 1e-5), out, atol=1e-5))
        site = json.loads(meta[METADATA_KEY])['sites']['norm2']
        self.assertEqual((site['class'], site['groups'], site['num_features']), ('GroupNorm', 8, 32))

    def test_other_norm_classes(self):
        mods = [nn.InstanceNorm1d(4, affine=True, track_running_stats=True), nn.BatchNorm1d(4), nn.BatchNorm3d(4), nn.InstanceNorm2d(4), nn.InstanceNorm3d(4)]
        if hasattr(nn, 'RMSNorm'):
            mods.append(nn.RMSNorm(4))
        for m in mods:
            self.assertTrue(is_norm_module(m), type(m).__name__)
        self.assertFalse(is_norm_module(nn.Linear(2, 2)))
        if hasattr(nn, 'RMSNorm'):
            model = nn.RMSNorm(8, eps=1e-6)
            x = torch.randn(3, 8)
            with capture(model, self.path()) as cap:
                y = model(x)
            tensors, meta = read_safetensors(self.path())
            self.assertEqual(cap.sites, ['norm'])
            self.assertTrue(torch.equal(tensors['norm.output'], y))
            self.assertEqual(json.loads(meta[METADATA_KEY])['sites']['norm']['class'], 'RMSNorm')

    def test_hooks_removed_and_no_file_on_exception(self):
        model = cnn()
        with self.assertRaises(ZeroDivisionError):
            with capture(model, self.path()):
                model(torch.randn(2, 3, 4, 4))
                1 / 0
        self.assertEqual(hook_count(model), 0)
        self.assertEqual(os.listdir(self.dir.name), [])

    def test_max_bytes_guard(self):
        model = cnn()
        with self.assertRaises(CaptureLimitError) as ctx:
            with capture(model, self.path(), max_bytes=1000):
                model(torch.randn(2, 3, 8, 8))
        self.assertIn('max_bytes=1000', str(ctx.exception))
        self.assertEqual(hook_count(model), 0)
        self.assertEqual(os.listdir(self.dir.name), [])

    def test_keyword_input_and_tuple_output(self):
        class TupleNorm(nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = nn.LayerNorm(8)

            def forward(self, x):
                return self.inner(x)

        class KeywordRMSNorm(LlamaRMSNorm):
            def forward(self, hidden_states):
                return (super().forward(hidden_states), 'extra')

        model = nn.ModuleDict({'a': TupleNorm(), 'b': KeywordRMSNorm(8)})
        x = torch.randn(3, 8)
        with capture(model, self.path()) as cap:
            ya = model['a'](x)
            yb, _ = model['b'](hidden_states=x)
        tensors, _ = read_safetensors(self.path())
        self.assertEqual(cap.sites, ['a.inner', 'b'])
        self.assertTrue(torch.equal(tensors['b.input'], x))
        self.assertTrue(torch.equal(tensors['b.output'], yb))
        self.assertTrue(torch.equal(tensors['a.inner.output'], ya))

    def test_warns_when_nothing_was_recorded(self):
        model = nn.Sequential(nn.Linear(4, 4))
        with self.assertWarnsRegex(UserWarning, 'no normalization call was recorded'):
            with capture(model, self.path(), mask=torch.ones(2, 3)) as cap:
                model(torch.randn(2, 4))
        tensors, _ = read_safetensors(self.path())
        self.assertEqual(list(tensors), ['attention_mask'])
        self.assertEqual(cap.sites, [])

    def test_bad_arguments(self):
        with self.assertRaises(ValueError):
            capture(cnn(), self.path(), max_calls=0)
        with self.assertRaises(TypeError):
            capture(cnn(), self.path(), mask=[1, 0])


if __name__ == '__main__':
    unittest.main()
