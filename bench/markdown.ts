import type { ResultsFile } from './results';

/** The results as a Markdown table (figures) and a line naming the machine. */
export function renderMarkdown(results: ResultsFile): string {
  const { machine } = results;
  const lines = [
    `Machine: ${machine.cpus} × ${machine.cpu_model}, ${machine.total_memory_mb} MB, Node ${machine.node}, ${machine.platform}; ` +
      `load average ${machine.load_1m.start} at the start, ${machine.load_1m.end} at the end`,
    '',
    '| figure | median | min – max | same-run baseline | baseline median | ratio | target |',
    '|---|---:|---:|---|---:|---:|---|',
  ];
  for (const entry of results.scenarios) {
    const target = entry.target === undefined ? '' : `${entry.target.rule}: **${entry.target.pass ? 'pass' : 'miss'}**`;
    lines.push(
      `| ${entry.name} | ${formatNumber(entry.median)} | ${formatNumber(entry.min)} – ${formatNumber(entry.max)} | ${entry.baseline.name} | ` +
        `${formatNumber(entry.baseline.median)} | ${formatRatio(entry.ratio)} | ${target} |`,
    );
  }
  const notes = results.scenarios.filter((entry) => entry.note !== undefined);
  if (notes.length > 0) {
    lines.push('');
    for (const entry of notes) lines.push(`- ${entry.name}: ${entry.note}`);
  }
  lines.push('', 'Baselines, measured in the same run:', '', '| baseline | median | min – max |', '|---|---:|---:|');
  for (const baseline of results.baselines) {
    lines.push(`| ${baseline.name} | ${formatNumber(baseline.median)} | ${formatNumber(baseline.min)} – ${formatNumber(baseline.max)} |`);
  }
  return `${lines.join('\n')}\n`;
}

/** About three significant digits, thousands grouped: enough to compare, not more than the noise supports. */
function formatNumber(value: number): string {
  const magnitude = Math.abs(value);
  const digits = magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : magnitude >= 1 ? 2 : 3;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Three significant digits: a ratio of 0.004 says as much as one of 4. */
function formatRatio(ratio: number): string {
  return `${ratio >= 100 ? ratio.toFixed(0) : ratio.toPrecision(3)}×`;
}
