/** Kinds of failure NormLens reports to people (never a stack trace). */
export type NormLensErrorKind =
  | 'format' // the bytes are not a valid dump of the claimed format
  | 'unsupported' // valid, but a feature NormLens refuses (pickle, structured dtypes, ...)
  | 'limit' // a configured size/depth limit would be exceeded
  | 'usage' // bad options, missing tensors, wrong axes
  | 'io' // the bytes could not be read
  | 'cancelled'; // the user cancelled

/**
 * A structured suggestion attached to an error or warning: what to change, as data. Core messages
 * say it neutrally ("pick feature axis 1"); each surface renders it its own way (the CLI as a flag,
 * `--feature-axis 1`; VS Code as its control, a "Use axis 1" button).
 */
export type NormLensHint =
  | { kind: 'featureAxis'; value: number }
  | { kind: 'tensor'; role: 'input' | 'mask' | 'output' | 'weight' | 'bias' | 'runningMean' | 'runningVar'; name: string }
  | { kind: 'eps'; value: number }
  | { kind: 'groups'; value: number }
  /** Read uint16 tensors as raw bfloat16 bits (CLI --bf16-from-uint16, setting normlens.bf16FromUint16). */
  | { kind: 'bf16FromUint16' }
  /** A size limit: its VS Code setting, its CLI flag, and a value that would do (or the default). */
  | { kind: 'limit'; setting: string; flag: string; value: number };

/**
 * The one error type the core throws on bad input. `message` is a full sentence that says
 * what is wrong, where, and what to do; callers show it as is, plus `hints` rendered their way.
 */
export class NormLensError extends Error {
  override readonly name = 'NormLensError';
  constructor(
    readonly kind: NormLensErrorKind,
    message: string,
    readonly hints: readonly NormLensHint[] = [],
  ) {
    super(message);
  }
}

/** The CLI's spelling of a hint: the flag (and value) that applies it. */
export function hintAsFlag(h: NormLensHint): string {
  switch (h.kind) {
    case 'featureAxis':
      return `--feature-axis ${h.value}`;
    case 'tensor':
      return `--${h.role === 'input' ? 'tensor' : h.role.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} ${h.name}`;
    case 'eps':
      return `--eps ${h.value}`;
    case 'groups':
      return `--groups ${h.value}`;
    case 'bf16FromUint16':
      return '--bf16-from-uint16';
    case 'limit':
      return `${h.flag} ${h.value}`;
  }
}

/** `count` and the noun, singular for exactly 1 ("1 feature", "2 features"). */
export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : pluralForm}`;
}

/** True when `e` is an error the core raised on purpose. */
export function isNormLensError(e: unknown): e is NormLensError {
  return e instanceof NormLensError || (typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'NormLensError');
}
