/** Attributes/properties accepted by `h`: strings become attributes, functions become listeners (`on*`). */
type Props = Record<string, string | number | boolean | undefined | null | ((e: Event) => void)>;

/** Creates an element with attributes, listeners and children (no innerHTML anywhere). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props?: Props | null, ...children: (Node | string | null | undefined | false)[]): HTMLElementTagNameMap[K];
export function h(tag: string, props?: Props | null, ...children: (Node | string | null | undefined | false)[]): HTMLElement;
export function h(tag: string, props?: Props | null, ...children: (Node | string | null | undefined | false)[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** Formats a number for people: compact, fixed significant digits, handles NaN/Inf/null. */
export function fmt(v: number | null | undefined, digits = 4): string {
  if (v === null || v === undefined || Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '−Inf';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(Math.max(0, digits - 1)).replace('e+', 'e');
  return Number(v.toPrecision(digits)).toString();
}

/** Formats an integer count with thousands separators. */
export function fmtInt(v: number): string {
  return v.toLocaleString('en-US');
}

/** Formats a shape as `(16, 1024, 4096)`. */
export function fmtShape(shape: readonly number[]): string {
  return `(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`;
}
