import { NormLensError } from '../errors';
import type { ByteSource } from '../io/byteSource';
import { JsonBytesParser, type JsonValue } from './jsonBytes';
import { describeBytes, type ResolvedOpenOptions } from './options';
import { checkedElementCount, inMemoryTensorHandle } from './tensorHandle';
import type { Dump, TensorHandle } from './types';

/** The one tensor name of a JSON dump that is a bare array. */
export const JSON_ARRAY_TENSOR_NAME = 'array';

function flattenStrings(value: JsonValue, out: string[], where: string): void {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const item of value) flattenStrings(item, out, where);
  else throw new NormLensError('format', `${where}: 'tokens' must be an array of strings (one per position, nested like the positions if you like).`);
}

/**
 * Opens a JSON dump: either a rectangular nested numeric array (one tensor named `array`), or an
 * object whose numeric-array values are tensors, plus optional `tokens` (strings per position,
 * flattened in C order), `eps` (a number) and string values (kept as metadata). Values decode to
 * float64. NaN / Infinity / -Infinity are accepted bare (as Python's json writes them) or as strings.
 */
export async function openJsonDump(source: ByteSource, options: ResolvedOpenOptions): Promise<Dump> {
  const where = source.description;
  const { maxJsonBytes, maxJsonElements, maxJsonDepth } = options.limits;
  if (source.size > maxJsonBytes) {
    throw new NormLensError(
      'limit',
      `${where}: the JSON dump is ${describeBytes(source.size)}, over the ${describeBytes(maxJsonBytes)} limit for JSON (it is parsed in memory). Save large arrays as .npy (numpy.save) or .safetensors instead.`,
    );
  }
  let bytes = await source.read(0, source.size);
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
  const parser = new JsonBytesParser(bytes, where, maxJsonDepth, true);
  const budget = { remaining: maxJsonElements, limit: maxJsonElements };
  const tensors: TensorHandle[] = [];
  const metadata: Record<string, string> = {};
  let tokens: string[] | undefined;
  let eps: number | undefined;
  const addTensor = (name: string): void => {
    const { shape, values } = parser.parseNumericArray(name, budget, 1);
    const size = checkedElementCount(shape, where);
    tensors.push(inMemoryTensorHandle({ name, dtype: 'float64', shape, size, byteLength: size * 8 }, values));
  };
  const first = parser.peek();
  if (first === -1) throw new NormLensError('format', `${where}: the file is empty or only whitespace; expected a JSON array or object.`);
  if (first === 0x7b) {
    parser.parseObjectEntries(0, (key) => {
      const c = parser.peek();
      if (key === 'tokens') {
        tokens = [];
        flattenStrings(parser.parseValue(1), tokens, where);
      } else if (key === 'eps') {
        const start = parser.pos;
        const value = parser.parseValue(1);
        if (typeof value === 'number' && Number.isFinite(value) && value >= 0) eps = value;
        else {
          parser.pos = start;
          parser.fail("'eps' must be a finite number >= 0");
        }
      } else if (c === 0x5b || c === 0x2d || (c >= 0x30 && c <= 0x39) || c === 0x4e || c === 0x49) {
        addTensor(key);
      } else if (c === 0x22) {
        metadata[key] = parser.parseString();
      } else {
        const what = c === 0x7b ? 'an object' : c === 0x6e ? 'null' : 'a boolean';
        parser.fail(`the value of '${key}' is ${what}; expected a numeric array (a tensor), a string (metadata), 'tokens' or 'eps'`);
      }
    });
  } else if (first === 0x5b || first === 0x2d || (first >= 0x30 && first <= 0x39)) {
    addTensor(JSON_ARRAY_TENSOR_NAME);
  } else {
    parser.fail('expected a JSON array of numbers or an object of named arrays');
  }
  parser.expectEnd();
  return { format: 'json', tensors, metadata, ...(tokens !== undefined ? { tokens } : {}), ...(eps !== undefined ? { eps } : {}) };
}
