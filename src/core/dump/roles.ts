import { NormLensError, type NormLensHint } from '../errors';
import { isFloatingDType, isIntegerDType } from '../formats/dtypes';
import type { TensorInfo, TensorRole } from '../formats/types';

/** Tensor names the user gave explicitly (CLI flags `--tensor`, `--mask`, ...), by role. */
export interface RoleOverrides {
  /** The input activations (`--tensor`). */
  readonly tensor?: string;
  readonly mask?: string;
  readonly output?: string;
  readonly weight?: string;
  readonly bias?: string;
  readonly runningMean?: string;
  readonly runningVar?: string;
}

/** Names recognised for each role, most specific first (DESIGN.md, "Roles are found by name"). */
export const ROLE_NAMES: ReadonlyArray<readonly [Exclude<TensorRole, 'other'>, readonly string[]]> = [
  ['input', ['hidden_states', 'activations', 'input', 'x']],
  ['mask', ['attention_mask', 'mask', 'padding_mask']],
  ['output', ['output', 'normalized', 'y']],
  ['weight', ['weight', 'gamma']],
  ['bias', ['bias', 'beta']],
  ['running_mean', ['running_mean']],
  ['running_var', ['running_var']],
];

const OVERRIDE_ROLES: ReadonlyArray<readonly [keyof RoleOverrides, Exclude<TensorRole, 'other'>, string]> = [
  ['tensor', 'input', '--tensor'],
  ['mask', 'mask', '--mask'],
  ['output', 'output', '--output'],
  ['weight', 'weight', '--weight'],
  ['bias', 'bias', '--bias'],
  ['runningMean', 'running_mean', '--running-mean'],
  ['runningVar', 'running_var', '--running-var'],
];

/** Last segment of a dotted/slashed path (`layer.0.norm.weight` → `weight`), lower-cased. */
function lastSegment(name: string): string {
  const parts = name.toLowerCase().split(/[./:]/);
  return parts[parts.length - 1] ?? '';
}

/**
 * Assigns a role to every tensor (each role to at most one tensor): explicit overrides first, then
 * names (case-insensitive, whole name before last path segment, earlier names in ROLE_NAMES
 * first), and finally the input falls back on the largest floating-point tensor left, else (a dump
 * of quantized int8/int16 activations) on the largest integer tensor left, one of two or more
 * dimensions first (not uint16, which may be raw bfloat16 bits). Unsupported tensors (TensorInfo.unsupported) are never picked by name or size;
 * an override may name one (reading it then says why it cannot be analyzed). An override that names
 * a missing tensor throws NormLensError('usage') listing the available names.
 */
export function guessRoles(tensors: readonly TensorInfo[], overrides: RoleOverrides = {}): Map<string, TensorRole> {
  const roles = new Map<string, TensorRole>(tensors.map((t) => [t.name, 'other']));
  const taken = new Set<TensorRole>();
  for (const [key, role, flag] of OVERRIDE_ROLES) {
    const name = overrides[key];
    if (name === undefined) continue;
    if (!roles.has(name)) {
      const available = tensors.map((t) => `'${t.name}'`).join(', ') || 'none';
      throw new NormLensError('usage', `${flag} ${name}: no tensor of that name in the dump. Available tensors: ${available}.`);
    }
    if (roles.get(name) !== 'other') {
      throw new NormLensError('usage', `${flag} ${name}: that tensor is already given another role (${roles.get(name)}). Pick a different tensor.`);
    }
    roles.set(name, role);
    taken.add(role);
  }
  const free = (t: TensorInfo): boolean => roles.get(t.name) === 'other' && t.unsupported === undefined;
  for (const [role, names] of ROLE_NAMES) {
    if (taken.has(role)) continue;
    let match: TensorInfo | undefined;
    for (const candidate of names) {
      match = tensors.find((t) => free(t) && t.name.toLowerCase() === candidate) ?? tensors.find((t) => free(t) && lastSegment(t.name) === candidate);
      if (match) break;
    }
    if (match) {
      roles.set(match.name, role);
      taken.add(role);
    }
  }
  if (!taken.has('input')) {
    let largest: TensorInfo | undefined;
    for (const t of tensors) if (free(t) && isFloatingDType(t.dtype) && (!largest || t.size > largest.size)) largest = t;
    if (!largest) {
      // No floating tensor: quantized activations. Prefer a tensor of two or more dimensions. uint16
      // is left out: it cannot be told apart from raw bfloat16 bits (--bf16-from-uint16, or --tensor).
      const integers = tensors.filter((t) => free(t) && isIntegerDType(t.dtype) && t.dtype !== 'uint16');
      const better = (a: TensorInfo, b: TensorInfo): boolean => {
        const aMulti = a.shape.length >= 2;
        const bMulti = b.shape.length >= 2;
        return aMulti !== bMulti ? aMulti : a.size > b.size;
      };
      for (const t of integers) if (!largest || better(t, largest)) largest = t;
    }
    if (largest) roles.set(largest.name, 'input');
  }
  return roles;
}

/** The name of the tensor playing `role`, if any. */
export function tensorWithRole(roles: ReadonlyMap<string, TensorRole>, role: TensorRole): string | undefined {
  for (const [name, r] of roles) if (r === role) return name;
  return undefined;
}

/**
 * Why no input tensor could be chosen, for the error an analysis raises: lists the unsupported
 * tensors with their reasons when that is the cause (a file whose only tensors are complex, strings,
 * pickles...), else what the reader can do (hints: the CLI shows them as flags, VS Code as settings).
 */
export function describeMissingInput(tensors: readonly TensorInfo[]): { message: string; hints: NormLensHint[] } {
  const unsupported = tensors.filter((t) => t.unsupported !== undefined);
  if (tensors.length === 0) return { message: 'the dump has no tensors to analyze. Check that it is the file you meant.', hints: [] };
  if (unsupported.length === tensors.length) {
    const list = unsupported.map((t) => `'${t.name}' (${t.unsupported!.dtype})`).join(', ');
    const first = unsupported[0]!;
    const which = unsupported.length === 1 ? 'its only tensor has an unsupported dtype' : `all ${unsupported.length} of its tensors have unsupported dtypes`;
    return { message: `the dump has no tensor NormLens can analyze: ${which}: ${list}. For '${first.name}': ${first.unsupported!.reason}`, hints: [] };
  }
  const u16 = tensors.find((t) => t.dtype === 'uint16');
  if (u16) {
    return {
      message: `the dump has no floating-point tensor, and its uint16 tensor '${u16.name}' may hold raw bfloat16 bits, so it is not picked by itself. Read uint16 tensors as bfloat16, or analyze '${u16.name}' as integers by naming it as the input.`,
      hints: [{ kind: 'bf16FromUint16' }, { kind: 'tensor', role: 'input', name: u16.name }],
    };
  }
  return { message: 'the dump has no floating-point or integer tensor to analyze. Check that it is the file you meant.', hints: [] };
}
