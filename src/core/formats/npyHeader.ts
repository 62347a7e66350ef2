import { NormLensError } from '../errors';
import type { DType } from './types';

/**
 * A Python literal as found in an npy header. Only the handful of forms numpy writes are parsed;
 * anything else (names, calls, operators) is refused. Nothing is ever evaluated.
 */
export type PyLiteral =
  | { readonly kind: 'str'; readonly value: string }
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
  const parseString = (): PyLiteral => {
    const quote = text[pos]!;
    pos++;
    let value = '';
    for (;;) {
      if (pos >= text.length) fail('unterminated string');
      const ch = text[pos]!;
      if (ch === quote) {
        pos++;
        return { kind: 'str', value };
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
      return parseString();
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
  /** The `descr` value: a dtype string such as `<f4` (structured descrs are refused before this). */
  readonly descr: string;
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
  if (mentionsObjectDtype(descr)) {
    throw new NormLensError('unsupported', `${where}: the array has dtype object ('O'): its data is a Python pickle, which can run code when loaded. NormLens never unpickles. Save a numeric array instead (e.g. np.asarray(x, dtype=np.float32)).`);
  }
  if (descr.kind === 'list' || descr.kind === 'tuple') {
    throw new NormLensError('unsupported', `${where}: structured (record) dtypes are not supported. Save each field as its own array, e.g. np.savez(path, **{name: arr[name] for name in arr.dtype.names}).`);
  }
  if (descr.kind !== 'str') throw new NormLensError('format', `${where}: the npy header's descr is not a string. The file is corrupt.`);
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
  return { descr: descr.value, fortranOrder: fortran.value, shape };
}

/** A dtype and the byte order its elements are stored in. */
export interface NpyDtype {
  readonly dtype: DType;
  readonly littleEndian: boolean;
}

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
 * Maps an npy descr (`dtype.str`) to a DType. Accepts `<`, `>`, `|` and `=` (= is taken as
 * little-endian, the byte order of every platform numpy ships for). Extensions: `<f1` (how
 * ml_dtypes writes float8_e5m2), the names `bfloat16`, `float8_e4m3fn`, `float8_e5m2`, and, with
 * `bf16FromUint16`, `<V2`/`<u2` as bfloat16 bits.
 */
export function parseNpyDescr(descr: string, bf16FromUint16: boolean, where: string): NpyDtype {
  const named: Record<string, DType> = { bfloat16: 'bfloat16', float8_e4m3fn: 'float8_e4m3fn', float8_e5m2: 'float8_e5m2' };
  const namedType = named[descr];
  if (namedType) return { dtype: namedType, littleEndian: true };
  const match = /^([<>|=]?)([a-zA-Z])(\d+)$/.exec(descr);
  if (!match || !'biufcmMOSUVa'.includes(match[2]!)) {
    throw new NormLensError('unsupported', `${where}: unknown dtype descr '${descr}'. Supported: float16/32/64, int8..64, uint8..64, bool (and bfloat16 with --bf16-from-uint16). Convert the array with .astype(np.float32) before saving.`);
  }
  const order = match[1]!;
  const code = `${match[2]}${match[3]}`;
  const littleEndian = order !== '>';
  if (code === 'V2' && bf16FromUint16) return { dtype: 'bfloat16', littleEndian };
  if (code === 'u2' && bf16FromUint16) return { dtype: 'bfloat16', littleEndian };
  if (code === 'f1') return { dtype: 'float8_e5m2', littleEndian: true };
  const dtype = NPY_KIND_SIZE[code];
  if (dtype) return { dtype, littleEndian };
  const kind = match[2]!;
  let hint: string;
  if (code === 'V2') hint = 'raw 2-byte values: this is how ml_dtypes bfloat16 arrays are saved by numpy; if so, pass the bf16-from-uint16 option (CLI: --bf16-from-uint16), or save x.astype(np.float32)';
  else if (code === 'V1') hint = 'raw 1-byte values (an ml_dtypes float8/int4 type whose name numpy lost); save x.astype(np.float32) instead';
  else if (kind === 'c') hint = 'complex arrays are not supported; save np.real(x) and np.imag(x) separately';
  else if (kind === 'f') hint = `float${Number(match[3]) * 8} (long double) is not supported; save x.astype(np.float64)`;
  else if (kind === 'U' || kind === 'S' || kind === 'a') hint = 'string arrays are not supported; store strings in a JSON dump (tokens)';
  else if (kind === 'M' || kind === 'm') hint = 'datetime arrays are not supported';
  else hint = 'convert the array with .astype(np.float32) before saving';
  throw new NormLensError('unsupported', `${where}: unsupported dtype '${descr}': ${hint}.`);
}
