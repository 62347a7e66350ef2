import { NormLensError } from '../errors';
import { isFloatingDType } from '../formats/dtypes';
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
 * first), and finally the input falls back on the largest floating-point tensor left. An override
 * that names a missing tensor throws NormLensError('usage') listing the available names.
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
  const free = (t: TensorInfo): boolean => roles.get(t.name) === 'other';
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
    if (largest) roles.set(largest.name, 'input');
  }
  return roles;
}

/** The name of the tensor playing `role`, if any. */
export function tensorWithRole(roles: ReadonlyMap<string, TensorRole>, role: TensorRole): string | undefined {
  for (const [name, r] of roles) if (r === role) return name;
  return undefined;
}
