import { guessRoles } from '../core/dump/roles';
import { NormLensError } from '../core/errors';
import { openDump } from '../core/formats/openDump';
import type { Dump, TensorRole } from '../core/formats/types';
import { NodeFileByteSource } from '../platform/nodeFileSource';
import { EXIT_OK, parseArgs, type CliIO } from './cliIO';

/** One tensor in `normlens info --json`. */
export interface InfoTensorJson {
  name: string;
  dtype: string;
  shape: number[];
  role: TensorRole;
  bytes: number;
  /** Why NormLens lists but does not decode this tensor (its dtype is then as the file writes it). */
  unsupported?: string;
  /** Bytes after the array in a lone .npy (np.save called twice on one file); ignored, as np.load does. */
  trailingBytes?: number;
}

/** The `normlens info --json` document. */
export interface InfoJson {
  format: string;
  tensors: InfoTensorJson[];
  metadata: Record<string, string>;
  /** Number of token strings (JSON dumps with `tokens`). */
  tokens?: number;
  /** `eps` recorded in a JSON dump. */
  eps?: number;
}

/** Builds the `info --json` document for an opened dump. */
export function describeDump(dump: Dump): InfoJson {
  const roles = guessRoles(dump.tensors.map((t) => t.info));
  const info: InfoJson = {
    format: dump.format,
    tensors: dump.tensors.map(({ info: t }) => ({
      name: t.name,
      dtype: t.unsupported?.dtype ?? t.dtype,
      shape: [...t.shape],
      role: roles.get(t.name) ?? 'other',
      bytes: t.byteLength,
      ...(t.unsupported ? { unsupported: t.unsupported.reason } : {}),
      ...(t.trailingBytes !== undefined ? { trailingBytes: t.trailingBytes } : {}),
    })),
    metadata: { ...dump.metadata },
  };
  if (dump.tokens) info.tokens = dump.tokens.length;
  if (dump.eps !== undefined) info.eps = dump.eps;
  return info;
}

function humanBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** One line per row, columns padded to their widest cell; numbers are right-aligned. */
function table(header: string[], rows: string[][], rightAligned: Set<number>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** Renders the text form of `normlens info`. */
export function formatInfoText(file: string, info: InfoJson): string {
  let text = `${file}: ${info.format}, ${info.tensors.length} tensor${info.tensors.length === 1 ? '' : 's'}\n\n`;
  if (info.tensors.length > 0) {
    const rows = info.tensors.map((t) => [t.name, t.dtype, `(${t.shape.join(', ')}${t.shape.length === 1 ? ',' : ''})`, t.role, humanBytes(t.bytes)]);
    text += table(['name', 'dtype', 'shape', 'role', 'bytes'], rows, new Set([4]));
    const notes: string[] = [];
    for (const t of info.tensors) {
      if (t.unsupported) notes.push(`'${t.name}' is listed but cannot be analyzed: ${t.unsupported}`);
      if (t.trailingBytes !== undefined) {
        notes.push(`'${t.name}': ${t.trailingBytes} more byte${t.trailingBytes === 1 ? '' : 's'} follow the array (np.save called twice on one file?); like np.load, NormLens reads the first array only.`);
      }
    }
    if (notes.length > 0) text += `\n${notes.map((n) => `note: ${n}`).join('\n')}\n`;
  }
  const extras: string[] = [];
  if (info.eps !== undefined) extras.push(`eps: ${info.eps}`);
  if (info.tokens !== undefined) extras.push(`tokens: ${info.tokens} string${info.tokens === 1 ? '' : 's'}`);
  const keys = Object.keys(info.metadata);
  if (extras.length > 0 || keys.length > 0) {
    text += '\nmetadata:\n';
    for (const e of extras) text += `  ${e}\n`;
    for (const k of keys) text += `  ${k}: ${info.metadata[k]!.replace(/\s*\n\s*/g, ' ')}\n`;
  }
  return text;
}

/** `normlens info FILE [--json] [--bf16-from-uint16]`: lists the tensors of a dump. */
export async function runInfo(argv: string[], io: CliIO): Promise<number> {
  let args;
  try {
    args = parseArgs(argv, [], ['json', 'bf16-from-uint16']);
  } catch (e) {
    throw new NormLensError('usage', `${(e as Error).message}.`);
  }
  if (args.positional.length !== 1) {
    throw new NormLensError('usage', `info takes exactly one FILE (got ${args.positional.length}). Usage: normlens info FILE [--json].`);
  }
  const file = args.positional[0]!;
  const source = await NodeFileByteSource.open(file);
  try {
    const dump = await openDump(source, { bf16FromUint16: args.options.has('bf16-from-uint16') });
    const info = describeDump(dump);
    io.out(args.options.has('json') ? `${JSON.stringify(info, null, 2)}\n` : formatInfoText(file, info));
    return EXIT_OK;
  } finally {
    await source.close();
  }
}
