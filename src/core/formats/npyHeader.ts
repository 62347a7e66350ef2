import { NormLensError } from '../errors';
import type { DType } from './types';

/**
 * A Python literal as found in an npy header. Only the handful of forms numpy writes are parsed;
 * anything else (names, calls, operators) is refused. Nothing is ever evaluated.
 */
export type PyLiteral =
  | { readonly kind: 'str'; readonly value: string; /** written `b'...'` (a bytes literal) */ readonly bytes?: boolean }
  | { readonly kind: 'int'; readonly value: bigint }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'none' }
  | { readonly kind: 'tuple' | 'list'; readonly items: readonly PyLiteral[] }
  | { readonly kind: 'dict'; readonly entries: ReadonlyArray<readonly [PyLiteral, PyLiteral]> };

const MAX_LITERAL_DEPTH = 32;

/** Parses one Python literal (dict/tuple/list/str/int/True/False/None) from `text`, which must contain nothing else. */
export function parsePythonLiteral(text: string, where: string): PyLiteral {
  let pos = 0;
  const fail = (what: string): never => {
    const excerpt = JSON.stringify(text.slice(Math.max(0, pos - 20), pos + 30));
    throw new NormLensError('format', `${where}: the npy header is not a plain Python literal: ${what} at character ${pos} (near ${excerpt}). NormLens never evaluates headers; re-save the array with numpy.save.`);
  };
  const skipSpace = (): void => {
    while (pos < text.length && ' \t\r\n\f\v'.includes(text[pos]!)) pos++;
  };
  const parseString = (bytes = false): PyLiteral => {
    const quote = text[pos]!;
    pos++;
    let value = '';
    for (;;) {
      if (pos >= text.length) fail('unterminated string');
      const ch = text[pos]!;
      if (ch === quote) {
        pos++;
        return bytes ? { kind: 'str', value, bytes } : { kind: 'str', value };
      }
      if (ch === '\n') fail('line break inside a string');
      if (ch === '\\') {
        const esc = text[pos + 1];
        pos += 2;
        const simple: Record<string, string> = { '\\': '\\', "'": "'", '"': '"', n: '\n', t: '\t', r: '\r', '0': '\0' };
        if (esc !== undefined && esc in simple) value += simple[esc];
        else if (esc === 'x' || esc === 'u') {
          const digits = esc === 'x' ? 2 : 4;
          const hex = text.slice(pos, pos + digits);
          if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== digits) fail('bad escape in string');
          value += String.fromCharCode(parseInt(hex, 16));
          pos += digits;
        } else fail('unsupported escape in string');
        continue;
      }
      value += ch;
      pos++;
    }
  };
  const parseSequence = (close: string, depth: number): PyLiteral[] => {
    const items: PyLiteral[] = [];
    for (;;) {
      skipSpace();
      if (text[pos] === close) {
        pos++;
        return items;
      }
      items.push(parseValue(depth + 1));
      skipSpace();
      if (text[pos] === ',') pos++;
      else if (text[pos] !== close) fail(`expected ',' or '${close}'`);
    }
  };
  const parseValue = (depth: number): PyLiteral => {
    if (depth > MAX_LITERAL_DEPTH) fail(`nesting deeper than ${MAX_LITERAL_DEPTH}`);
    skipSpace();
    const ch = text[pos];
    if (ch === undefined) return fail('unexpected end of header');
    if (ch === "'" || ch === '"') return parseString();
    if ((ch === 'u' || ch === 'b') && (text[pos + 1] === "'" || text[pos + 1] === '"')) {
      pos++;
      return parseString(ch === 'b');
    }
    if (ch === '(') {
      pos++;
      const start = pos;
      const items = parseSequence(')', depth);
      // `(3)` is just 3 in Python; only `(3,)` or `()` or `(a, b)` are tuples.
      if (items.length === 1 && !/,\s*\)$/.test(text.slice(start - 1, pos))) return items[0]!;
      return { kind: 'tuple', items };
    }
    if (ch === '[') {
      pos++;
      return { kind: 'list', items: parseSequence(']', depth) };
    }
    if (ch === '{') {
      pos++;
      const entries: Array<readonly [PyLiteral, PyLiteral]> = [];
      for (;;) {
        skipSpace();
        if (text[pos] === '}') {
          pos++;
          return { kind: 'dict', entries };
        }
        const key = parseValue(depth + 1);
        skipSpace();
        if (text[pos] !== ':') fail("expected ':'");
        pos++;
        const value = parseValue(depth + 1);
        entries.push([key, value]);
        skipSpace();
        if (text[pos] === ',') pos++;
        else if (text[pos] !== '}') fail("expected ',' or '}'");
      }
    }
    const intMatch = /^[-+]?[0-9]+[lL]?/.exec(text.slice(pos, pos + 64));
    if (intMatch) {
      pos += intMatch[0].length;
      if (/^[0-9a-zA-Z_.]/.test(text[pos] ?? '')) fail('unsupported number literal');
      return { kind: 'int', value: BigInt(intMatch[0].replace(/[lL]$/, '').replace(/^\+/, '')) };
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(pos, pos + 64));
    if (word) {
      if (word[0] === 'True' || word[0] === 'False') {
        pos += word[0].length;
        return { kind: 'bool', value: word[0] === 'True' };
      }
      if (word[0] === 'None') {
        pos += 4;
        return { kind: 'none' };
      }
      return fail(`unexpected name '${word[0]}' (code is never run)`);
    }
    return fail(`unexpected character ${JSON.stringify(ch)}`);
  };
  const value = parseValue(0);
  skipSpace();
  if (pos !== text.length) fail('unexpected text after the header dictionary');
  return value;
}

/** The three fields of an npy header. */
export interface NpyHeaderFields {
  /**
   * The `descr` value: a dtype string such as `<f4`; for a structured dtype, its text as written.
   */
  readonly descr: string;
  /** `object`: the data is a pickle (never read). `structured`: a record dtype (not decoded). */
  readonly descrKind: 'simple' | 'object' | 'structured';
  readonly fortranOrder: boolean;
  readonly shape: readonly number[];
}

/** True when the literal contains the object dtype code `O` in any string (pickled data). */
function mentionsObjectDtype(literal: PyLiteral): boolean {
  switch (literal.kind) {
    case 'str':
      return /^[<>|=]?O\d*$/.test(literal.value);
    case 'tuple':
    case 'list':
      return literal.items.some(mentionsObjectDtype);
    case 'dict':
      return literal.entries.some(([k, v]) => mentionsObjectDtype(k) || mentionsObjectDtype(v));
    default:
      return false;
  }
}

/** Interprets the header text (already decoded) of an npy file: exactly `descr`, `fortran_order`, `shape`. */
export function parseNpyHeaderText(text: string, where: string): NpyHeaderFields {
  const literal = parsePythonLiteral(text, where);
  if (literal.kind !== 'dict') {
    throw new NormLensError('format', `${where}: the npy header is not a dictionary. Re-save the array with numpy.save.`);
  }
  const fields = new Map<string, PyLiteral>();
  for (const [key, value] of literal.entries) {
    if (key.kind !== 'str') throw new NormLensError('format', `${where}: the npy header has a non-string key. Re-save the array with numpy.save.`);
    if (fields.has(key.value)) throw new NormLensError('format', `${where}: the npy header repeats the key '${key.value}'. The file is corrupt.`);
    fields.set(key.value, value);
  }
  const keys = [...fields.keys()].sort();
  if (keys.join(',') !== 'descr,fortran_order,shape') {
    throw new NormLensError('format', `${where}: the npy header must have exactly the keys descr, fortran_order and shape, but has ${keys.map((k) => `'${k}'`).join(', ') || 'none'}. The file is corrupt or not written by numpy.save.`);
  }
  const descr = fields.get('descr')!;
  let descrKind: NpyHeaderFields['descrKind'] = 'simple';
  let descrText: string;
  if (mentionsObjectDtype(descr) || (descr.kind === 'str' && descr.value === 'object')) {
    descrKind = 'object';
    descrText = descr.kind === 'str' ? descr.value : '|O';
  } else if (descr.kind === 'list' || descr.kind === 'tuple') {
    descrKind = 'structured';
    descrText = 'structured';
  } else if (descr.kind !== 'str') {
    throw new NormLensError('format', `${where}: the npy header's descr is not a string. The file is corrupt.`);
  } else if (descr.bytes) {
    throw new NormLensError('format', `${where}: the npy header's descr is the bytes literal b'${descr.value}', which numpy refuses too ("descr is not a valid dtype descriptor"). Write it as a string ('${descr.value}'), or re-save the array with numpy.save.`);
  } else {
    descrText = descr.value;
  }
  const fortran = fields.get('fortran_order')!;
  if (fortran.kind !== 'bool') throw new NormLensError('format', `${where}: the npy header's fortran_order must be True or False. The file is corrupt.`);
  const shapeLiteral = fields.get('shape')!;
  if (shapeLiteral.kind !== 'tuple') {
    throw new NormLensError('format', `${where}: the npy header's shape must be a tuple of integers. The file is corrupt.`);
  }
  const shape = shapeLiteral.items.map((item) => {
    if (item.kind !== 'int') throw new NormLensError('format', `${where}: the npy header's shape must contain only integers. The file is corrupt.`);
    if (item.value < 0n) throw new NormLensError('format', `${where}: the npy header has a negative dimension ${item.value} in its shape. The file is corrupt.`);
    if (item.value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new NormLensError('format', `${where}: the npy header claims a dimension of ${item.value}, beyond 2^53. The file is corrupt or hostile.`);
    }
    return Number(item.value);
  });
  if (shape.length > 64) throw new NormLensError('format', `${where}: the npy header has ${shape.length} dimensions (numpy allows at most 64). The file is corrupt.`);
  return { descr: descrText, descrKind, fortranOrder: fortran.value, shape };
}

/** A dtype and the byte order its elements are stored in. */
export interface NpyDtype {
  readonly dtype: DType;
  readonly littleEndian: boolean;
  /** For dtype 'unsupported': the descr as written and why NormLens does not decode it. */
  readonly unsupported?: { readonly dtype: string; readonly reason: string };
  /** Bytes per element for dtype 'unsupported'; undefined when unknown (object, structured). */
  readonly itemSize?: number;
}

/** Supported dtypes by numpy's kind + size code (`f4`, `i8`, `b1`). */
const NPY_KIND_SIZE: Record<string, DType> = {
  f2: 'float16',
  f4: 'float32',
  f8: 'float64',
  i1: 'int8',
  i2: 'int16',
  i4: 'int32',
  i8: 'int64',
  u1: 'uint8',
  u2: 'uint16',
  u4: 'uint32',
  u8: 'uint64',
  b1: 'bool',
};

/**
 * numpy's one-character type codes (`np.dtype('d')`), as numpy reads them on 64-bit Linux and
 * macOS (`l`/`L` are C long: 8 bytes there, 4 on Windows).
 */
const NPY_CHAR_CODES: Record<string, string> = {
  '?': 'b1',
  b: 'i1',
  B: 'u1',
  h: 'i2',
  H: 'u2',
  i: 'i4',
  I: 'u4',
  l: 'i8',
  L: 'u8',
  q: 'i8',
  Q: 'u8',
  p: 'i8',
  P: 'u8',
  e: 'f2',
  f: 'f4',
  d: 'f8',
  g: 'f16',
  F: 'c8',
  D: 'c16',
  G: 'c32',
  c: 'S1',
};

/** dtype names numpy accepts as a whole descr (`np.dtype('float64')`), as kind + size codes. */
const NPY_NAMES: Record<string, string> = {
  float16: 'f2',
  half: 'f2',
  float32: 'f4',
  single: 'f4',
  float64: 'f8',
  double: 'f8',
  float: 'f8',
  longdouble: 'f16',
  float128: 'f16',
  int8: 'i1',
  byte: 'i1',
  int16: 'i2',
  short: 'i2',
  int32: 'i4',
  intc: 'i4',
  int64: 'i8',
  long: 'i8',
  longlong: 'i8',
  int: 'i8',
  int_: 'i8',
  intp: 'i8',
  uint8: 'u1',
  ubyte: 'u1',
  uint16: 'u2',
  ushort: 'u2',
  uint32: 'u4',
  uintc: 'u4',
  uint64: 'u8',
  ulong: 'u8',
  ulonglong: 'u8',
  uint: 'u8',
  uintp: 'u8',
  bool: 'b1',
  bool_: 'b1',
  complex64: 'c8',
  csingle: 'c8',
  complex128: 'c16',
  complex: 'c16',
  cdouble: 'c16',
  complex256: 'c32',
  clongdouble: 'c32',
  str: 'U0',
  str_: 'U0',
  bytes: 'S0',
  bytes_: 'S0',
  void: 'V0',
  datetime64: 'M8',
  timedelta64: 'm8',
};

/** numpy's name for an unsupported kind + size code, for messages. */
function numpyName(kind: string, size: number): string {
  switch (kind) {
    case 'c':
      return `complex${size * 8}`;
    case 'f':
      return `float${size * 8} (long double)`;
    case 'U':
      return 'str';
    case 'S':
    case 'a':
      return 'bytes';
    case 'V':
      return `void${size * 8} (raw bytes)`;
    case 'M':
      return 'datetime64';
    case 'm':
      return 'timedelta64';
    default:
      return `${kind}${size}`;
  }
}

/**
 * Maps an npy descr to a DType: `dtype.str` as numpy writes it (`<f4`, `|b1`, `>i8`), and the other
 * spellings `np.dtype()` accepts for these types (`'float64'`, `'<d'`, `'?'`, `'f4'`, `'int64'`,
 * `'bool'`...; checked against numpy 2.4). `<`/`>` set the byte order; `=`, `|` or none mean
 * native, taken as little-endian (every platform numpy ships for). Extensions: `<f1` (how ml_dtypes
 * writes float8_e5m2), the names `bfloat16`, `float8_e4m3fn`, `float8_e5m2`, and, with
 * `bf16FromUint16`, `<V2`/`<u2` as bfloat16 bits.
 *
 * Valid numpy dtypes NormLens does not decode (complex, long double, strings, bytes, void,
 * datetime, object, structured) come back as dtype 'unsupported' with a reason, so the rest of an
 * .npz stays usable; a descr numpy itself refuses throws.
 */
export function parseNpyDescr(descr: string, bf16FromUint16: boolean, where: string, descrKind: NpyHeaderFields['descrKind'] = 'simple'): NpyDtype {
  if (descrKind === 'object') {
    return {
      dtype: 'unsupported',
      littleEndian: true,
      unsupported: {
        dtype: descr,
        reason: `it has dtype object ('${descr}'): its data is a Python pickle, which can run code when loaded, so NormLens never reads it. Save a numeric array instead (e.g. np.asarray(x, dtype=np.float32)).`,
      },
    };
  }
  if (descrKind === 'structured') {
    return {
      dtype: 'unsupported',
      littleEndian: true,
      unsupported: {
        dtype: descr,
        reason: 'structured (record) dtypes are not supported. Save each field as its own array, e.g. np.savez(path, **{name: arr[name] for name in arr.dtype.names}).',
      },
    };
  }
  const named: Record<string, DType> = { bfloat16: 'bfloat16', float8_e4m3fn: 'float8_e4m3fn', float8_e5m2: 'float8_e5m2' };
  const namedType = named[descr];
  if (namedType) return { dtype: namedType, littleEndian: true };
  let order = '';
  let code: string | undefined = NPY_NAMES[descr];
  if (code === undefined) {
    const match = /^([<>|=]?)([A-Za-z?])(\d*)(\[[A-Za-z0-9]+\])?$/.exec(descr);
    if (match) {
      order = match[1]!;
      const [letter, digits, unit] = [match[2]!, match[3]!, match[4]];
      if (unit !== undefined && letter !== 'M' && letter !== 'm') code = undefined;
      else if (digits === '') code = NPY_CHAR_CODES[letter] ?? ('SaUVMm'.includes(letter) ? `${letter}${letter === 'M' || letter === 'm' ? 8 : 0}` : undefined);
      else if ('fiubcSaUVMm'.includes(letter) && !(letter === 'b' && Number(digits) !== 1)) code = `${letter}${Number(digits)}`;
    }
  }
  if (code === undefined) {
    throw new NormLensError('unsupported', `${where}: unknown dtype descr '${descr}'. Supported: float16/32/64, int8..64, uint8..64, bool (and bfloat16 saved as uint16: CLI --bf16-from-uint16, VS Code setting normlens.bf16FromUint16). Convert the array with .astype(np.float32) before saving.`);
  }
  const littleEndian = order !== '>';
  if (code === 'V2' && bf16FromUint16) return { dtype: 'bfloat16', littleEndian };
  if (code === 'u2' && bf16FromUint16) return { dtype: 'bfloat16', littleEndian };
  if (code === 'f1') return { dtype: 'float8_e5m2', littleEndian: true };
  const dtype = NPY_KIND_SIZE[code];
  if (dtype) return { dtype, littleEndian };
  const kind = code[0]!;
  const size = Number(code.slice(1));
  const valid =
    (kind === 'c' && [8, 16, 32].includes(size)) ||
    (kind === 'f' && [12, 16].includes(size)) ||
    'SaUV'.includes(kind) ||
    ((kind === 'M' || kind === 'm') && size === 8);
  if (!valid) {
    throw new NormLensError('unsupported', `${where}: unknown dtype descr '${descr}' (numpy has no such type). Supported: float16/32/64, int8..64, uint8..64, bool. Re-save the array with numpy.save.`);
  }
  let hint: string;
  if (code === 'V2') hint = 'raw 2-byte values: this is how ml_dtypes bfloat16 arrays are saved by numpy; if so, read it as bfloat16 (CLI: --bf16-from-uint16, VS Code setting: normlens.bf16FromUint16), or save x.astype(np.float32)';
  else if (code === 'V1') hint = 'raw 1-byte values (an ml_dtypes float8/int4 type whose name numpy lost); save x.astype(np.float32) instead';
  else if (kind === 'c') hint = 'NormLens analyzes real numbers; save np.real(x) and np.imag(x) separately';
  else if (kind === 'f') hint = 'save x.astype(np.float64)';
  else if (kind === 'U' || kind === 'S' || kind === 'a') hint = 'store strings in a JSON dump (tokens)';
  else if (kind === 'M' || kind === 'm') hint = 'save x.astype(np.int64) or x.astype(np.float64)';
  else hint = 'convert the array with .astype(np.float32) before saving';
  const itemSize = kind === 'U' ? 4 * size : size;
  return { dtype: 'unsupported', littleEndian, itemSize, unsupported: { dtype: descr, reason: `${numpyName(kind, size)} ('${descr}') is not supported: ${hint}.` } };
}
