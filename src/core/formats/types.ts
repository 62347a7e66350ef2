/** Element types NormLens decodes. Names follow numpy / ml_dtypes spelling. */
export type DType =
  | 'float16'
  | 'bfloat16'
  | 'float32'
  | 'float64'
  | 'float8_e4m3fn'
  | 'float8_e5m2'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool'
  /** A tensor NormLens lists but does not decode; `TensorInfo.unsupported` says what it is. */
  | 'unsupported';

/** Container formats NormLens reads. */
export type DumpFormat = 'npy' | 'npz' | 'safetensors' | 'json';

/** Role a tensor plays in a dump (see DESIGN.md, "Roles are found by name"). */
export type TensorRole = 'input' | 'mask' | 'output' | 'weight' | 'bias' | 'running_mean' | 'running_var' | 'other';

/** What is known about one tensor without reading its data. */
export interface TensorInfo {
  /** Name in the file (npz member without `.npy`, safetensors key, JSON key; `array` for a lone .npy). */
  readonly name: string;
  readonly dtype: DType;
  /** Shape in C order (for Fortran-order npy files too: values are exposed in C order). */
  readonly shape: readonly number[];
  /** Number of elements (product of shape; 1 for a 0-d array). */
  readonly size: number;
  /** Bytes the tensor's data occupies in the file (uncompressed). */
  readonly byteLength: number;
  /**
   * Set when the tensor is valid in its format but NormLens does not decode its dtype (complex,
   * strings, long double, object/pickle, structured, 4/6-bit floats...). `dtype` is then
   * `'unsupported'`; the file can still be opened and its other tensors analyzed, roles never pick
   * it, and reading it throws a NormLensError with `reason`.
   */
  readonly unsupported?: {
    /** The dtype as the file writes it (`<c8`, `|O`, `C64`). */
    readonly dtype: string;
    /** A sentence for people: what it is and what to do (`complex64 ('<c8') is not supported: ...`). */
    readonly reason: string;
  };
  /**
   * Bytes after the array's data in a lone .npy file (np.save called twice on one file writes a
   * second array there). numpy's np.load reads the first array and ignores them; so does NormLens.
   */
  readonly trailingBytes?: number;
}

/** Decoded values: float16/bfloat16/float8/float32 decode exactly to Float32Array; the rest to Float64Array. */
export type DecodedValues = Float32Array | Float64Array;

/** One tensor of an opened dump, readable in chunks of elements (C order). */
export interface TensorHandle {
  readonly info: TensorInfo;
  /**
   * True when `read` at any offset is cheap. False for deflate-compressed npz members, which
   * must be read front to back (each call may restart decompression when going backwards).
   */
  readonly randomAccess: boolean;
  /** Decodes elements [start, start + count) in C order. Throws NormLensError on bad data. */
  read(start: number, count: number): Promise<DecodedValues>;
  /**
   * Optional (contiguous tensors of a file): `read` with the raw bytes read into the start of
   * `target` (at least count · item size bytes). Float32 little-endian values are then a view of
   * `target`: keep it unchanged while they are used.
   */
  readInto?(start: number, count: number, target: Uint8Array): Promise<DecodedValues>;
}

/** An opened dump: the tensors and what the file says about itself. */
export interface Dump {
  readonly format: DumpFormat;
  readonly tensors: readonly TensorHandle[];
  /** safetensors `__metadata__`, npz/JSON extras; string to string. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Per-position token strings (JSON `tokens`), when present. */
  readonly tokens?: readonly string[];
  /** `eps` recorded in a JSON dump, when present. */
  readonly eps?: number;
}
