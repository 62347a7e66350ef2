import { NormLensError, type NormLensErrorKind } from '../errors';

/** A JSON number kept as its text (parser option `numbersAsText`), for exact integer checks. */
export class JsonNumberText {
  constructor(readonly text: string) {}
  /** True for a plain non-negative integer literal (`0`, `12`; not `2.0`, `2e0`, `-0`). */
  get isUnsignedInteger(): boolean {
    return /^(0|[1-9][0-9]*)$/.test(this.text);
  }
}

/** A parsed JSON value. Objects are Maps (keys in file order; no prototype pitfalls like `__proto__`). */
export type JsonValue = null | boolean | number | JsonNumberText | string | JsonValue[] | JsonObject;
/** A parsed JSON object. */
export type JsonObject = Map<string, JsonValue>;

/** A numeric JSON array read straight into a Float64Array, with its (rectangular) shape. */
export interface NumericArray {
  readonly shape: number[];
  readonly values: Float64Array;
}

const WS_SPACE = 0x20;
const WS_TAB = 0x09;
const WS_LF = 0x0a;
const WS_CR = 0x0d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A Float64Array that grows by doubling. */
class GrowableFloat64 {
  private data = new Float64Array(1024);
  length = 0;
  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }
  /** The values, trimmed (copied only when much capacity would be wasted). */
  finish(): Float64Array {
    const used = this.data.subarray(0, this.length);
    return this.length < this.data.length * 0.75 ? used.slice() : used;
  }
}

/**
 * A strict JSON parser over UTF-8 bytes (RFC 8259), written so that NormLens can detect duplicate
 * object keys (JSON.parse silently keeps the last), bound nesting depth, and read large numeric
 * arrays directly into typed arrays. Extension (when `allowNonFinite`): `NaN`, `Infinity`,
 * `-Infinity` as bare words (Python's json.dump writes them) or as the strings "NaN", "Infinity",
 * "-Infinity" inside numeric arrays.
 */
export class JsonBytesParser {
  pos = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly where: string,
    private readonly maxDepth: number,
    private readonly allowNonFinite: boolean,
    /**
     * safetensors mode (as serde_json): numbers come back as JsonNumberText, and strings with a
     * lone UTF-16 surrogate escape (`"\ud800"`) are refused.
     */
    private readonly strict = false,
  ) {}

  /** Throws a NormLensError naming the byte offset. */
  fail(what: string, kind: NormLensErrorKind = 'format'): never {
    throw new NormLensError(kind, `${this.where}: ${what} at byte ${this.pos}.`);
  }

  skipWhitespace(): void {
    const b = this.bytes;
    while (this.pos < b.length) {
      const c = b[this.pos]!;
      if (c !== WS_SPACE && c !== WS_LF && c !== WS_CR && c !== WS_TAB) break;
      this.pos++;
    }
  }

  /** The next byte after whitespace, or -1 at the end. */
  peek(): number {
    this.skipWhitespace();
    return this.pos < this.bytes.length ? this.bytes[this.pos]! : -1;
  }

  /** Requires that only whitespace remains. */
  expectEnd(): void {
    if (this.peek() !== -1) this.fail('unexpected text after the JSON value');
  }

  /** Consumes `char` (after whitespace) or fails. */
  expect(char: string): void {
    if (this.peek() !== char.charCodeAt(0)) this.fail(`expected '${char}'`);
    this.pos++;
  }

  /** Parses any JSON value. Objects with a repeated key are refused. */
  parseValue(depth = 0): JsonValue {
    const c = this.peek();
    if (c === 0x7b) return this.parseObject(depth);
    if (c === 0x5b) {
      if (depth >= this.maxDepth) this.fail(`nesting deeper than the limit of ${this.maxDepth}`, 'limit');
      this.pos++;
      const items: JsonValue[] = [];
      if (this.peek() === 0x5d) {
        this.pos++;
        return items;
      }
      for (;;) {
        items.push(this.parseValue(depth + 1));
        const next = this.peek();
        this.pos++;
        if (next === 0x5d) return items;
        if (next !== 0x2c) {
          this.pos--;
          this.fail("expected ',' or ']' in an array");
        }
      }
    }
    if (c === QUOTE) return this.parseString();
    return this.parseScalarWord();
  }

  /** Calls `onEntry` for each key of an object (the parser positioned at its value); refuses repeated keys. */
  parseObjectEntries(depth: number, onEntry: (key: string) => void): void {
    if (depth >= this.maxDepth) this.fail(`nesting deeper than the limit of ${this.maxDepth}`, 'limit');
    this.expect('{');
    const keys = new Set<string>();
    if (this.peek() === 0x7d) {
      this.pos++;
      return;
    }
    for (;;) {
      if (this.peek() !== QUOTE) this.fail('expected a string key in an object');
      const keyStart = this.pos;
      const key = this.parseString();
      if (keys.has(key)) {
        this.pos = keyStart;
        this.fail(`duplicate key ${JSON.stringify(key)} (keys must be unique; JSON.parse would silently keep the last one)`);
      }
      keys.add(key);
      this.expect(':');
      onEntry(key);
      const next = this.peek();
      this.pos++;
      if (next === 0x7d) return;
      if (next !== 0x2c) {
        this.pos--;
        this.fail("expected ',' or '}' in an object");
      }
    }
  }

  private parseObject(depth: number): JsonObject {
    const object: JsonObject = new Map();
    this.parseObjectEntries(depth, (key) => object.set(key, this.parseValue(depth + 1)));
    return object;
  }

  /** true/false/null/number (and NaN/Infinity when allowed). */
  private parseScalarWord(): JsonValue {
    const b = this.bytes;
    const rest = (word: string): boolean => {
      for (let i = 0; i < word.length; i++) if (b[this.pos + i] !== word.charCodeAt(i)) return false;
      return true;
    };
    if (rest('true')) {
      this.pos += 4;
      return true;
    }
    if (rest('false')) {
      this.pos += 5;
      return false;
    }
    if (rest('null')) {
      this.pos += 4;
      return null;
    }
    if (this.strict) {
      const start = this.pos;
      this.parseNumber();
      return new JsonNumberText(String.fromCharCode(...b.subarray(start, this.pos)));
    }
    return this.parseNumber();
  }

  /** Parses a JSON number (or NaN/Infinity/-Infinity when allowed). */
  parseNumber(): number {
    const b = this.bytes;
    this.skipWhitespace();
    const start = this.pos;
    let p = start;
    if (b[p] === 0x2d) p++;
    if (this.allowNonFinite) {
      const word = b[p] === 0x4e ? 'NaN' : b[p] === 0x49 ? 'Infinity' : '';
      if (word && String.fromCharCode(...b.subarray(p, p + word.length)) === word) {
        if (word === 'NaN' && p !== start) this.fail("'-NaN' is not a number");
        this.pos = p + word.length;
        return word === 'NaN' ? NaN : p === start ? Infinity : -Infinity;
      }
    }
    const digitsFrom = (q: number): number => {
      while (b[q] !== undefined && b[q]! >= 0x30 && b[q]! <= 0x39) q++;
      return q;
    };
    if (b[p] === 0x30) p++;
    else if (b[p] !== undefined && b[p]! >= 0x31 && b[p]! <= 0x39) p = digitsFrom(p);
    else {
      const found = p < b.length ? JSON.stringify(String.fromCharCode(b[p]!)) : 'the end of the text';
      this.fail(`expected a number but found ${found}`);
    }
    if (b[p] === 0x2e) {
      const q = digitsFrom(p + 1);
      if (q === p + 1) this.fail('malformed number (no digits after the decimal point)');
      p = q;
    }
    if (b[p] === 0x65 || b[p] === 0x45) {
      let q = p + 1;
      if (b[q] === 0x2b || b[q] === 0x2d) q++;
      const r = digitsFrom(q);
      if (r === q) this.fail('malformed number (no digits in the exponent)');
      p = r;
    }
    this.pos = p;
    if (p - start > 1000) {
      this.pos = start;
      this.fail('a number literal longer than 1000 characters');
    }
    return Number(String.fromCharCode(...b.subarray(start, p)));
  }

  /** Parses a JSON string (validating UTF-8 and escapes). */
  parseString(): string {
    const b = this.bytes;
    if (b[this.pos] !== QUOTE) this.fail('expected a string');
    this.pos++;
    let segmentStart = this.pos;
    let text = '';
    for (;;) {
      const c = b[this.pos];
      if (c === undefined) this.fail('unterminated string');
      if (c === QUOTE) {
        text += this.decodeSegment(segmentStart, this.pos);
        this.pos++;
        return text;
      }
      if (c < 0x20) this.fail('control character inside a string');
      if (c === BACKSLASH) {
        text += this.decodeSegment(segmentStart, this.pos);
        const e = b[this.pos + 1];
        const simple: Record<number, string> = { 0x22: '"', 0x5c: '\\', 0x2f: '/', 0x62: '\b', 0x66: '\f', 0x6e: '\n', 0x72: '\r', 0x74: '\t' };
        if (e !== undefined && simple[e] !== undefined) {
          text += simple[e];
          this.pos += 2;
        } else if (e === 0x75) {
          const hex = String.fromCharCode(...b.subarray(this.pos + 2, this.pos + 6));
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('bad \\u escape in a string');
          const unit = parseInt(hex, 16);
          if (this.strict && unit >= 0xd800 && unit <= 0xdfff) {
            // serde_json (the reference) refuses lone surrogates: a high one must be followed by a low one.
            const next = String.fromCharCode(...b.subarray(this.pos + 6, this.pos + 12));
            const low = /^\\u[dD][c-fC-F][0-9a-fA-F]{2}$/.test(next) ? parseInt(next.slice(2), 16) : -1;
            if (unit >= 0xdc00 || low < 0) this.fail(`lone UTF-16 surrogate \\u${hex} in a string (not a Unicode character; the reference safetensors parser refuses it too)`);
            text += String.fromCharCode(unit, low);
            this.pos += 12;
            segmentStart = this.pos;
            continue;
          }
          text += String.fromCharCode(unit);
          this.pos += 6;
        } else this.fail('bad escape in a string');
        segmentStart = this.pos;
        continue;
      }
      this.pos++;
    }
  }

  private decodeSegment(start: number, end: number): string {
    const segment = this.bytes.subarray(start, end);
    let ascii = true;
    for (let i = 0; i < segment.length; i++) {
      if (segment[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return segment.length < 4096 ? String.fromCharCode(...segment) : utf8.decode(segment);
    try {
      return utf8.decode(segment);
    } catch {
      this.pos = start;
      return this.fail('invalid UTF-8 in a string');
    }
  }

  /**
   * Parses a (nested) numeric array, or a lone number, into a Float64Array with a rectangular
   * shape. `budget.remaining` bounds the number of elements (across calls). Ragged nesting,
   * non-numeric entries and excessive depth are refused with the offending byte offset.
   */
  parseNumericArray(name: string, budget: { remaining: number; limit: number }, depth0 = 0): NumericArray {
    const shape: number[] = [];
    let ndim = -1;
    const values = new GrowableFloat64();
    const ragged = (): never =>
      this.fail(`'${name}' is not a rectangular array (rows of different lengths, or numbers mixed with lists). Save a regular array, e.g. with numpy.save`);
    const element = (): void => {
      if (--budget.remaining < 0) {
        this.fail(`more than ${budget.limit} numbers; JSON dumps are parsed in memory, so this limit keeps them small. Save large arrays as .npy or .safetensors instead`, 'limit');
      }
      const c = this.peek();
      if (c === QUOTE) {
        const start = this.pos;
        const text = this.parseString();
        const special: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };
        if (!this.allowNonFinite || !(text in special)) {
          this.pos = start;
          this.fail(`'${name}' contains the string ${JSON.stringify(text.slice(0, 40))} where a number is expected (only "NaN", "Infinity" and "-Infinity" are accepted as strings)`);
        }
        values.push(special[text]!);
        return;
      }
      if (c === 0x6e || c === 0x74 || c === 0x66 || c === 0x7b) {
        const what = c === 0x6e ? 'null' : c === 0x7b ? 'an object' : 'a boolean';
        this.fail(`'${name}' contains ${what} where a number is expected; write numbers only (NaN as NaN or "NaN")`);
      }
      values.push(this.parseNumber());
    };
    const parseArray = (depth: number): void => {
      if (depth0 + depth >= this.maxDepth) this.fail(`'${name}' is nested deeper than the limit of ${this.maxDepth}`, 'limit');
      this.expect('[');
      let length = 0;
      if (this.peek() === 0x5d) this.pos++;
      else {
        for (;;) {
          if (this.peek() === 0x5b) {
            if (ndim !== -1 && depth + 1 >= ndim) ragged();
            parseArray(depth + 1);
          } else {
            if (ndim === -1) {
              if (shape.length > depth + 1) ragged();
              ndim = depth + 1;
            } else if (ndim !== depth + 1) ragged();
            element();
          }
          length++;
          const next = this.peek();
          this.pos++;
          if (next === 0x5d) break;
          if (next !== 0x2c) {
            this.pos--;
            this.fail(`expected ',' or ']' in '${name}'`);
          }
        }
      }
      if (shape[depth] === undefined) {
        if (ndim !== -1 && depth >= ndim) ragged();
        shape[depth] = length;
      } else if (shape[depth] !== length) ragged();
    };
    if (this.peek() === 0x5b) parseArray(0);
    else {
      element();
      return { shape: [], values: values.finish() };
    }
    for (let d = 0; d < shape.length; d++) if (shape[d] === undefined) ragged();
    return { shape, values: values.finish() };
  }
}
