/** Size and depth limits that keep hostile or oversized dumps from exhausting memory or time. */
export interface DumpLimits {
  /** Largest npy header (HEADER_LEN) accepted, in bytes; numpy's `max_header_size` default is 10000. */
  readonly maxNpyHeaderBytes: number;
  /** Largest Fortran-order array (bytes of decoded values) reordered to C order in memory. */
  readonly maxFortranOrderBytes: number;
  /** Largest safetensors JSON header, in bytes (the reference implementation's MAX_HEADER_SIZE). */
  readonly maxSafetensorsHeaderBytes: number;
  /** Largest JSON dump, in bytes of text (JSON is parsed in memory). */
  readonly maxJsonBytes: number;
  /** Most numbers accepted in one JSON dump (all arrays together). */
  readonly maxJsonElements: number;
  /** Deepest array/object nesting accepted in JSON (dump or safetensors header). */
  readonly maxJsonDepth: number;
  /** Most members accepted in an npz (zip) central directory. */
  readonly maxZipEntries: number;
}

/** The limits used when `openDump` is given none. */
export const DEFAULT_LIMITS: DumpLimits = {
  maxNpyHeaderBytes: 10000,
  maxFortranOrderBytes: 512 * 1024 * 1024,
  maxSafetensorsHeaderBytes: 100_000_000,
  maxJsonBytes: 256 * 1024 * 1024,
  maxJsonElements: 32 * 1024 * 1024,
  maxJsonDepth: 32,
  maxZipEntries: 65536,
};

/** Options of `openDump`. */
export interface OpenDumpOptions {
  /**
   * Decode npy `<V2` (ml_dtypes bfloat16 saved through numpy) and `<u2`/`>u2` arrays as bfloat16 bit
   * patterns. Off by default: raw bf16 bits stored as uint16 cannot be told apart from real integers.
   */
  readonly bf16FromUint16?: boolean;
  /** Overrides of individual limits; the rest come from DEFAULT_LIMITS. */
  readonly limits?: Partial<DumpLimits>;
}

/** Options with every field filled in. */
export interface ResolvedOpenOptions {
  readonly bf16FromUint16: boolean;
  readonly limits: DumpLimits;
}

/** Fills in defaults for `options`. */
export function resolveOpenOptions(options: OpenDumpOptions | undefined): ResolvedOpenOptions {
  return { bf16FromUint16: options?.bf16FromUint16 ?? false, limits: { ...DEFAULT_LIMITS, ...(options?.limits ?? {}) } };
}

/** Formats a byte count for messages: `1.5 MiB (1572864 bytes)`. */
export function describeBytes(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  if (bytes < 1024) return `${bytes} bytes`;
  let value = bytes;
  let unit = 'bytes';
  for (const u of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = u;
  }
  return `${value.toFixed(value < 10 ? 2 : 1)} ${unit} (${bytes} bytes)`;
}
