import type { AnalysisReport } from './analysisReport';
import { toNumbers } from '../arrays';

/** A long numeric array of a report, taken out of it and sent as binary (a webview message transfers it as a buffer). */
export interface PackedArray {
  /** Where it sits in the report (keys and array indices). */
  path: (string | number)[];
  values: Float64Array;
}

/** A report with its long all-finite number arrays moved to `arrays` (left empty in `report`). */
export interface PackedReport {
  report: AnalysisReport;
  arrays: PackedArray[];
}

/** Arrays at least this long are packed (short ones cost less as JSON). */
const MIN_PACKED_LENGTH = 512;

function allFinite(a: readonly unknown[]): a is number[] {
  for (let i = 0; i < a.length; i++) if (typeof a[i] !== 'number' || !Number.isFinite(a[i])) return false;
  return true;
}

/**
 * Packs a report for a webview message: long arrays of finite numbers (per-token / per-feature
 * statistics) become Float64Arrays, which VS Code sends as binary instead of megabytes of JSON text.
 * The report itself is not changed (the objects on the way to a packed array are copied).
 */
export function packReport(report: AnalysisReport, minLength = MIN_PACKED_LENGTH): PackedReport {
  const arrays: PackedArray[] = [];
  const visit = (value: unknown, path: (string | number)[]): unknown => {
    if (Array.isArray(value)) {
      if (value.length >= minLength && allFinite(value)) {
        arrays.push({ path, values: Float64Array.from(value) });
        return [];
      }
      if (value.length > 0 && typeof value[0] === 'object' && value[0] !== null) return value.map((v, i) => visit(v, [...path, i]));
      return value;
    }
    if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value)) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = visit(v, [...path, k]);
      return out;
    }
    return value;
  };
  return { report: visit(report, []) as AnalysisReport, arrays };
}

/** Puts packed arrays back into their report (in place), as plain number arrays. */
export function unpackReport(packed: PackedReport): AnalysisReport {
  for (const { path, values } of packed.arrays) {
    let at: Record<string | number, unknown> = packed.report as unknown as Record<string, unknown>;
    for (let i = 0; i < path.length - 1; i++) at = at[path[i]!] as Record<string | number, unknown>;
    at[path[path.length - 1]!] = toNumbers(values);
  }
  return packed.report;
}
