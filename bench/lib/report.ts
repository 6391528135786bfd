import type { Check, Row } from './context';

/** A number to three significant figures, with k/M for large ones. */
export function formatNumber(value: number): string {
  if (value === Infinity) return '∞';
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${(value / 1e6).toPrecision(3)}M`;
  if (abs >= 1e4) return `${(value / 1e3).toPrecision(3)}k`;
  if (abs >= 100 || value === 0) return value.toFixed(0);
  return value.toPrecision(3);
}

function formatRatio(value: number): string {
  return `${value.toPrecision(3)}×`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column])).join(' | ')} |`;
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

/** The figures as a Markdown table: min / median / max over repetitions, and ratios to same-run baselines. */
export function figuresTable(rows: Row[]): string {
  return table(
    ['', 'figure', 'unit', 'reps', 'min', 'median', 'max', 'ratio to baseline: median (min–max)'],
    rows.map((row) => [
      `(${row.scenario})`,
      row.label,
      row.unit,
      String(row.summary.samples.length),
      formatNumber(row.summary.min),
      formatNumber(row.summary.median),
      formatNumber(row.summary.max),
      (row.ratios ?? [])
        .map(
          (ratio) =>
            `${formatRatio(ratio.summary.median)} (${formatRatio(ratio.summary.min)}–${formatRatio(ratio.summary.max)}) vs ${ratio.vs}`,
        )
        .join('; '),
    ]),
  );
}

/** The performance targets, met or not, with what was measured (medians over repetitions). */
export function targetsTable(checks: Check[]): string {
  return table(
    ['', 'target', 'measured (median)', 'met'],
    checks.map((check) => [
      `(${check.scenario})`,
      check.target,
      check.measured,
      check.met === null ? 'not judged' : check.met ? 'yes' : '**NO**',
    ]),
  );
}
