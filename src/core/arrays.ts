/**
 * A plain array of the values (optionally mapped). `Array.from` on a typed array walks the iterator
 * protocol, which code that runs once per analysis (not yet optimized) pays for with an object per
 * element; an indexed loop does not.
 */
export function toNumbers(values: ArrayLike<number>, map?: (v: number) => number): number[] {
  const n = values.length;
  const out = new Array<number>(n);
  if (map) for (let i = 0; i < n; i++) out[i] = map(values[i]!);
  else for (let i = 0; i < n; i++) out[i] = values[i]!;
  return out;
}
