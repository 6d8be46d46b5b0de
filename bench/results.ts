import { cpus, loadavg, totalmem } from 'node:os';
import type { Summary } from './stats';

/**
 * Every figure of a run, each next to a baseline measured in the same run
 * on the same machine, with their ratio and, where one is set, the target
 * it is held to.
 */
export interface Machine {
  cpus: number;
  cpu_model: string;
  node: string;
  platform: string;
  total_memory_mb: number;
  /** 1-minute load average when the run started and ended: other work on the machine skews every figure. */
  load_1m: { start: number; end: number };
}

/** A figure's goal, judged on the same-run numbers. */
export interface Target {
  /** How the goal reads in the table, e.g. "ratio ≥ 0.10". */
  rule: string;
  met(median: number, ratio: number): boolean;
}

export interface Entry {
  name: string;
  unit: string;
  median: number;
  min: number;
  max: number;
  baseline: { name: string; median: number };
  ratio: number;
  target?: { rule: string; pass: boolean };
  note?: string;
}

export interface BaselineFigure {
  name: string;
  unit: string;
  median: number;
  min: number;
  max: number;
}

export interface ResultsFile {
  machine: Machine;
  scenarios: Entry[];
  /** The raw figures the scenarios are compared with, with their own spread. */
  baselines: BaselineFigure[];
}

export function describeMachine(loadAtStart: number): Machine {
  const all = cpus();
  return {
    cpus: all.length,
    cpu_model: all[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    total_memory_mb: Math.round(totalmem() / 2 ** 20),
    load_1m: { start: loadAtStart, end: currentLoad() },
  };
}

export function currentLoad(): number {
  return Math.round((loadavg()[0] ?? 0) * 100) / 100;
}

export const atLeastRatio = (minimum: number): Target => ({ rule: `ratio ≥ ${minimum}`, met: (_median, ratio) => ratio >= minimum });
export const atMostRatio = (maximum: number): Target => ({ rule: `ratio ≤ ${maximum}`, met: (_median, ratio) => ratio <= maximum });
export const atMost = (maximum: number, unit: string): Target => ({ rule: `≤ ${maximum} ${unit}`, met: (median) => median <= maximum });
export const atLeast = (minimum: number, unit: string): Target => ({ rule: `≥ ${minimum} ${unit}`, met: (median) => median >= minimum });

export class Results {
  private readonly baselines = new Map<string, BaselineFigure>();
  private readonly entries: Entry[] = [];

  addBaseline(name: string, unit: string, summary: Summary): void {
    this.baselines.set(name, { name, unit, ...summary });
  }

  /** `baseline` names a figure recorded earlier in this run: a raw baseline or another entry. */
  add(figure: { name: string; unit: string; summary: Summary; baseline: string; target?: Target; note?: string }): Entry {
    const baseline = this.baselines.get(figure.baseline) ?? this.entries.find((entry) => entry.name === figure.baseline);
    if (baseline === undefined) throw new Error(`no figure "${figure.baseline}" was measured before "${figure.name}"`);
    const { median, min, max } = figure.summary;
    const ratio = median / baseline.median;
    const entry: Entry = { name: figure.name, unit: figure.unit, median, min, max, baseline: { name: baseline.name, median: baseline.median }, ratio };
    if (figure.target !== undefined) entry.target = { rule: figure.target.rule, pass: figure.target.met(median, ratio) };
    if (figure.note !== undefined) entry.note = figure.note;
    this.entries.push(entry);
    return entry;
  }

  file(machine: Machine): ResultsFile {
    return { machine, scenarios: [...this.entries], baselines: [...this.baselines.values()] };
  }
}
