/** Kinds of failure NormLens reports to people (never a stack trace). */
export type NormLensErrorKind =
  | 'format' // the bytes are not a valid dump of the claimed format
  | 'unsupported' // valid, but a feature NormLens refuses (pickle, structured dtypes, ...)
  | 'limit' // a configured size/depth limit would be exceeded
  | 'usage' // bad options, missing tensors, wrong axes
  | 'io' // the bytes could not be read
  | 'cancelled'; // the user cancelled

/**
 * The one error type the core throws on bad input. `message` is a full sentence that says
 * what is wrong, where, and what to do; callers show it as is.
 */
export class NormLensError extends Error {
  override readonly name = 'NormLensError';
  constructor(
    readonly kind: NormLensErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** True when `e` is an error the core raised on purpose. */
export function isNormLensError(e: unknown): e is NormLensError {
  return e instanceof NormLensError || (typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'NormLensError');
}
