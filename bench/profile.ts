import { writeFileSync } from 'node:fs';
import { Session, type Profiler } from 'node:inspector/promises';

/**
 * CPU profiles of single sections (`--profile`): the V8 profiler is started
 * and stopped around the section, so the profile holds that section and
 * nothing of the baselines around it. It covers this process only: the
 * in-process scenarios, not the spawned or forked nodes.
 */
export async function profiled<T>(path: string, work: () => Promise<T>): Promise<{ result: T; hottest: string[] }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  let result: T;
  let profile: Profiler.Profile;
  try {
    result = await work();
  } finally {
    profile = (await session.post('Profiler.stop')).profile;
    session.disconnect();
  }
  writeFileSync(path, JSON.stringify(profile));
  return { result, hottest: hottest(profile, 12) };
}

/**
 * Self time by function, where time spent in Node's internals and native
 * code (a signature, a write) counts for the nearest caller in the
 * program's own code: that is the line to change. Idle time is left out.
 */
function hottest(profile: Profiler.Profile, count: number): string[] {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const deltas = profile.timeDeltas ?? [];
  const byFunction = new Map<string, number>();
  let busy = 0;
  (profile.samples ?? []).forEach((id, index) => {
    const sampled = nodes.get(id);
    const time = deltas[index] ?? 0;
    if (sampled === undefined || sampled.callFrame.functionName === '(idle)') return;
    busy += time;
    let owner = sampled;
    for (let up = parents.get(owner.id); !isProgramCode(owner) && up !== undefined; up = parents.get(up)) owner = nodes.get(up) ?? owner;
    const frame = (isProgramCode(owner) ? owner : sampled).callFrame;
    const file = frame.url.slice(frame.url.lastIndexOf('/') + 1);
    const name = `${frame.functionName || '(anonymous)'}${file === '' ? '' : ` (${file}:${frame.lineNumber + 1})`}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + time);
  });
  return [...byFunction]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, time]) => `${((100 * time) / busy).toFixed(1)}% ${name}`);
}

function isProgramCode(node: Profiler.ProfileNode): boolean {
  return node.callFrame.url.startsWith('file://');
}
