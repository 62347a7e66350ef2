"""Record what every normalization layer of a PyTorch model sees, for NormLens (`normlens sweep`).

    from normlens_capture import capture
    with capture(model, "dump.safetensors", max_calls=1, mask=attention_mask):
        model(input_ids, attention_mask=attention_mask)
    # then: normlens sweep dump.safetensors   (or open the file in VS Code)

Hooked modules: ``nn.LayerNorm``, ``nn.RMSNorm`` (when this torch has it), ``nn.BatchNorm1d/2d/3d``
(and ``SyncBatchNorm``), ``nn.GroupNorm``, ``nn.InstanceNorm1d/2d/3d``, and any module whose class
name ends in ``RMSNorm`` or ``LayerNorm`` (Hugging Face ``LlamaRMSNorm``, ``T5LayerNorm``, ...).

For each call of a hooked module the file holds, under the module's path ``P`` (``layers.0.norm1``):

- ``P.input``   the first tensor argument, as the module received it;
- ``P.output``  the module's output (the first tensor when it returns a tuple);
- ``P.weight``, ``P.bias``  the affine parameters, when the module has them;
- ``P.running_mean``, ``P.running_var``  BatchNorm/InstanceNorm running statistics, copied in a
  forward *pre*-hook, i.e. the values used by (eval) or updated by (training) this very call,
  BEFORE the call updates them. In training mode the normalization itself uses the batch
  statistics; the recorded running stats are the ones the model had going in.

A module called more than once (weight sharing, several forward passes) is recorded as
``P.call0.input``, ``P.call1.input``, ... (sites ``P.call0``, ``P.call1``); a module called once is
just ``P``. ``max_calls=N`` keeps only the first N calls of each module. The model itself, when it
is a norm, is recorded under the name ``norm``.

A user mask (``mask=``, 1 = real token, 0 = padding) is saved once as ``attention_mask``; NormLens
applies it to every site whose token shape fits.

Every tensor is detached and copied to the CPU with its dtype kept (bfloat16 stays BF16 in
safetensors). The file is safetensors unless the path ends in ``.npz`` or the ``safetensors``
package is missing; ``.npz`` has no bfloat16, so such tensors are upcast to float32 and listed in
the metadata (``upcast``). Metadata (safetensors ``__metadata__``; a ``__metadata__.json`` member
in npz) holds one JSON string under ``normlens.capture``: torch version, mask name, and per site
the norm class, eps, groups (GroupNorm), normalized_shape, num_features, affine, training flag,
module path and call index.

The file is written when the ``with`` block ends normally; nothing else is written, ever. The
hooks are removed on exit, also when the block raises (then no file is written). ``max_bytes``
bounds the bytes of recorded tensors: the call that would exceed it raises CaptureLimitError.
"""
from __future__ import annotations

import json
import os
import warnings
import zipfile
from collections import OrderedDict
from typing import Callable, Dict, List, Optional

import torch
import torch.nn as nn

__all__ = ['capture', 'Capture', 'CaptureLimitError', 'is_norm_module', 'METADATA_KEY']

#: Key of the JSON metadata in safetensors ``__metadata__``.
METADATA_KEY = 'normlens.capture'
#: Name of the shared mask tensor.
MASK_NAME = 'attention_mask'
#: Name used for the model itself when it is a normalization module.
ROOT_NAME = 'norm'
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

_NORM_TYPES = tuple(
    t
    for t in (
        nn.LayerNorm,
        getattr(nn, 'RMSNorm', None),
        nn.modules.batchnorm._BatchNorm,
        nn.GroupNorm,
        nn.modules.instancenorm._InstanceNorm,
    )
    if t is not None
)


class CaptureLimitError(RuntimeError):
    """Raised when the recorded tensors would exceed ``max_bytes``."""


def is_norm_module(module: nn.Module) -> bool:
    """True for the normalization modules ``capture`` hooks (see the module docstring)."""
    if isinstance(module, _NORM_TYPES):
        return True
    name = type(module).__name__
    return name.endswith('RMSNorm') or name.endswith('LayerNorm')


def _copy(t: torch.Tensor) -> torch.Tensor:
    """Detached, contiguous CPU copy with the same dtype (never shares storage with the model)."""
    t = t.detach()
    return t.to('cpu', copy=True).contiguous() if t.device.type != 'cpu' else t.clone().contiguous()


def _first_tensor(value):
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for v in value:
            if isinstance(v, torch.Tensor):
                return v
    if isinstance(value, dict):
        for v in value.values():
            if isinstance(v, torch.Tensor):
                return v
    return None


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def _describe(module: nn.Module, path: str, call: int) -> Dict[str, object]:
    """Per-site metadata: what NormLens needs to replay the norm."""
    info: Dict[str, object] = {'class': type(module).__name__, 'module': path, 'call': call, 'training': bool(module.training)}
    eps = getattr(module, 'eps', None)
    if eps is None:
        eps = getattr(module, 'variance_epsilon', None)  # Hugging Face RMSNorms
    if isinstance(eps, (int, float)):
        info['eps'] = float(eps)
    if isinstance(module, nn.GroupNorm):
        info['groups'] = int(module.num_groups)
    shape = getattr(module, 'normalized_shape', None)
    if shape is not None:
        info['normalized_shape'] = [int(s) for s in (shape if isinstance(shape, (tuple, list)) else [shape])]
    elif (is_norm_module(module) and not isinstance(module, _NORM_TYPES)) and isinstance(getattr(module, 'weight', None), torch.Tensor):
        info['normalized_shape'] = [int(s) for s in module.weight.shape]
    for key in ('num_features', 'num_channels'):
        v = getattr(module, key, None)
        if isinstance(v, int):
            info['num_features'] = v
    affine = getattr(module, 'affine', getattr(module, 'elementwise_affine', None))
    if isinstance(affine, bool):
        info['affine'] = affine
    momentum = getattr(module, 'momentum', None)
    if isinstance(momentum, (int, float)):
        info['momentum'] = float(momentum)
    return info


class _Record:
    __slots__ = ('path', 'call', 'tensors', 'info', 'done')

    def __init__(self, path: str, call: int, info: Dict[str, object]):
        self.path = path
        self.call = call
        self.tensors: Dict[str, torch.Tensor] = OrderedDict()
        self.info = info
        self.done = False


class Capture:
    """Hooks the norms of ``model`` while active; use through :func:`capture`."""

    def __init__(
        self,
        model: nn.Module,
        path: str,
        max_calls: Optional[int] = None,
        mask: Optional[torch.Tensor] = None,
        max_bytes: Optional[int] = None,
        include: Optional[Callable[[str, nn.Module], bool]] = None,
    ):
        if max_calls is not None and (not isinstance(max_calls, int) or max_calls < 1):
            raise ValueError(f'max_calls must be a positive integer or None, got {max_calls!r}')
        if max_bytes is not None and max_bytes < 0:
            raise ValueError(f'max_bytes must be >= 0 or None, got {max_bytes!r}')
        self.model = model
        self.path = os.fspath(path)
        self.max_calls = max_calls
        self.max_bytes = max_bytes
        self.include = include
        self.mask = _copy(mask) if isinstance(mask, torch.Tensor) else None
        if mask is not None and self.mask is None:
            raise TypeError('mask must be a torch.Tensor (1 = real token, 0 = padding)')
        self.format = 'npz' if self.path.lower().endswith('.npz') else ('safetensors' if _has_safetensors() else 'npz')
        self.bytes = _nbytes(self.mask) if self.mask is not None else 0
        self._records: Dict[str, List[_Record]] = OrderedDict()
        self._calls: Dict[str, int] = {}
        self._pending: Dict[str, List[_Record]] = {}
        self._handles: list = []
        #: Tensor names written to the file, in file order (filled on exit).
        self.names: List[str] = []
        #: Site names written, in call order (filled on exit).
        self.sites: List[str] = []

    # -- hooks -------------------------------------------------------------------------------
    def _account(self, t: torch.Tensor, what: str) -> None:
        self.bytes += _nbytes(t)
        if self.max_bytes is not None and self.bytes > self.max_bytes:
            raise CaptureLimitError(
                f'normlens_capture: recording {what} would bring the capture to {self.bytes} bytes, over max_bytes='
                f'{self.max_bytes}. Pass max_calls=1, a smaller batch, include= to pick fewer modules, or a larger max_bytes.'
            )

    def _keep(self, record: _Record, role: str, t: Optional[torch.Tensor]) -> None:
        if isinstance(t, torch.Tensor):
            self._account(t, f'{record.path}.{role}')
            record.tensors[role] = _copy(t)

    def _pre_hook(self, path: str, module: nn.Module, args, kwargs) -> None:
        call = self._calls.get(path, 0)
        self._calls[path] = call + 1
        if self.max_calls is not None and call >= self.max_calls:
            return
        x = _first_tensor(args)
        if x is None:
            x = _first_tensor(kwargs)
        if x is None:
            return
        record = _Record(path, call, _describe(module, path, call))
        self._keep(record, 'input', x)
        for role in ('weight', 'bias', 'running_mean', 'running_var'):
            value = getattr(module, role, None)
            if isinstance(value, torch.Tensor):
                self._keep(record, role, value)
        self._records.setdefault(path, []).append(record)
        self._pending.setdefault(path, []).append(record)

    def _hook(self, path: str, module: nn.Module, args, kwargs, output) -> None:
        pending = self._pending.get(path)
        if not pending:
            return
        record = pending.pop()
        self._keep(record, 'output', _first_tensor(output))
        record.done = True

    # -- context manager -----------------------------------------------------------------------
    def __enter__(self) -> 'Capture':
        try:
            for name, module in self.model.named_modules():
                if not is_norm_module(module):
                    continue
                path = name or ROOT_NAME
                if self.include is not None and not self.include(path, module):
                    continue
                try:
                    pre = module.register_forward_pre_hook(lambda m, a, k, p=path: self._pre_hook(p, m, a, k), with_kwargs=True)
                    self._handles.append(pre)
                    post = module.register_forward_hook(lambda m, a, k, o, p=path: self._hook(p, m, a, k, o), with_kwargs=True)
                except TypeError:  # torch < 2.0: no keyword arguments in hooks
                    pre = module.register_forward_pre_hook(lambda m, a, p=path: self._pre_hook(p, m, a, {}))
                    self._handles.append(pre)
                    post = module.register_forward_hook(lambda m, a, o, p=path: self._hook(p, m, a, {}, o))
                self._handles.append(post)
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._remove()
        if exc_type is None:
            self._write()
        return False

    def _remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    # -- output --------------------------------------------------------------------------------
    def tensors(self) -> 'OrderedDict[str, torch.Tensor]':
        """The recorded tensors by file name (``P.input``, ...), plus ``attention_mask`` when given."""
        out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
        sites: Dict[str, Dict[str, object]] = OrderedDict()
        for path, records in self._records.items():
            records = [r for r in records if r.done]
            several = len(records) > 1
            for r in records:
                site = f'{path}.call{r.call}' if several else path
                sites[site] = r.info
                for role, t in r.tensors.items():
                    out[f'{site}.{role}'] = t
        if self.mask is not None:
            out[MASK_NAME] = self.mask
        self.sites = list(sites)
        self._site_info = sites
        return out

    def metadata(self, upcast: List[str]) -> Dict[str, object]:
        meta: Dict[str, object] = {'version': 1, 'torch': torch.__version__, 'sites': self._site_info}
        if self.mask is not None:
            meta['mask'] = MASK_NAME
        if upcast:
            meta['upcast'] = {'to': 'float32', 'from': 'bfloat16', 'tensors': upcast}
        return meta

    def _write(self) -> None:
        tensors = self.tensors()
        self.names = list(tensors)
        if not self.sites:
            warnings.warn(
                'normlens_capture: no normalization call was recorded. Was the model run inside the with block? '
                '(Fused fast paths, e.g. nn.TransformerEncoder in eval mode under torch.no_grad(), skip module hooks.)',
                stacklevel=3,
            )
        if self.format == 'safetensors':
            from safetensors.torch import save_file

            save_file(dict(tensors), self.path, metadata={METADATA_KEY: json.dumps(self.metadata([]), sort_keys=True)})
            return
        import numpy as np

        upcast = [n for n, t in tensors.items() if t.dtype == torch.bfloat16]
        if not self.path.lower().endswith('.npz'):
            warnings.warn(f'normlens_capture: the safetensors package is missing; writing an npz archive to {self.path}', stacklevel=3)
        # Fixed member timestamps: the same capture gives the same bytes.
        with zipfile.ZipFile(self.path, 'w', compression=zipfile.ZIP_STORED) as archive:
            for name, t in tensors.items():
                array = (t.float() if t.dtype == torch.bfloat16 else t).numpy()
                with archive.open(zipfile.ZipInfo(name + '.npy', _ZIP_TIME), 'w', force_zip64=True) as member:
                    np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            # A string -> string map, like safetensors' __metadata__ (NormLens reads it from this member).
            archive.writestr(zipfile.ZipInfo('__metadata__.json', _ZIP_TIME), json.dumps({METADATA_KEY: json.dumps(self.metadata(upcast), sort_keys=True)}))


def _has_safetensors() -> bool:
    try:
        import safetensors.torch  # noqa: F401
    except ImportError:
        return False
    return True


def capture(
    model: nn.Module,
    path: str,
    max_calls: Optional[int] = None,
    mask: Optional[torch.Tensor] = None,
    max_bytes: Optional[int] = None,
    include: Optional[Callable[[str, nn.Module], bool]] = None,
) -> Capture:
    """Context manager recording every normalization call of ``model`` into the file ``path``.

    ``max_calls``: keep only the first N calls of each module (None: all). ``mask``: a tensor saved
    as ``attention_mask``. ``max_bytes``: raise CaptureLimitError instead of recording more bytes.
    ``include(path, module)``: hook only the norms it accepts. After the block, ``cap.names`` and
    ``cap.sites`` list what was written.
    """
    return Capture(model, path, max_calls=max_calls, mask=mask, max_bytes=max_bytes, include=include)
