import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fsyncTimes } from './baseline-disk';
import { wsConnectTimes, wsRoundTrips } from './baseline-ws';
import { renderMarkdown } from './markdown';
import { profiled } from './profile';
import { atLeast, atLeastRatio, atMost, currentLoad, describeMachine, Results } from './results';
import { runScaleChild, type ChildKind } from './scale-child';
import { cryptoOperations, opsPerSecond, verifyKeyImport } from './scenarios/crypto';
import { filesRun, runFilesNodeChild, writeRandomFile, type FilesRun, type MessageLatency } from './scenarios/files';
import { floodRun, runFloodChild } from './scenarios/flood';
import { handshakeTimes } from './scenarios/handshake';
import { p2pLatency } from './scenarios/latency';
import { reachRun, type ReachPath, type ReachRun } from './scenarios/reach';
import { scaleRun } from './scenarios/scale';
import { runSimulatedPeersThread, SIM_PEERS_THREAD_FLAG } from './sim-threads';
import { startupRun } from './scenarios/startup';
import { startStdioBench } from './scenarios/stdio';
import { runThroughputChild, throughputInChild } from './scenarios/throughput';
import { nowMs, percentile, repeat, summarize } from './stats';
import { natTopologyObstacle } from '../test/helpers/nat-topology';

/**
 * `npm run bench`: every scenario next to a raw baseline measured in this
 * same run, the median of several repetitions with min and max. Progress
 * goes to stderr, the Markdown table to stdout, everything to
 * bench/results.json. `--only=<section>,…` runs the baselines and the named
 * sections alone; `--profile` writes a CPU profile of each section but the
 * baselines (bench/<n>-<section>.cpuprofile) and prints its hottest
 * functions; `--file-mib=<n>` sends a file of n MiB instead of 256 in the
 * files section, for a quick check. Any of them leaves results.json as it
 * is: a partial, profiled or resized run is not the record of this machine.
 */

const REPETITIONS = 5;
const SLOW_REPETITIONS = 3;
const RESULTS_FILE = resolve(process.cwd(), 'bench', 'results.json');

const WINDOW_256 = 256;
const WINDOW_64K = 64;
const THROUGHPUT_MS = 2000;
const WS_THROUGHPUT_MS = 1000;
const ROUND_TRIPS = 2000;
const LATENCY_MESSAGES = 200;
const CONNECTIONS = 100;
const STDIO_CALLS = 200;
const SCALE_CONCURRENCY = 32;
/**
 * One core for the node, the others for the simulated peers, whose
 * handshakes cost about what the node's do: on one thread they would bound
 * the rate on a machine with cores to spare. On 2 cores that is one thread:
 * more only added CPU time per handshake to what the node competes with.
 */
const SCALE_SIMULATOR_THREADS = Math.max(1, cpus().length - 1);
const CRYPTO_MS = 250;
const FLOOD_MS = 3000;
const BUNDLE = resolve(process.cwd(), 'dist', 'p2p-comm');
const SEA_LINUX_X64 = resolve(process.cwd(), 'dist', 'nexus', 'x86_64-unknown-linux-gnu', 'extension');

const KIB64 = 64 * 1024;
/** Per path and repetition: fresh namespaces and nodes, a pairing, 100 × 64 KiB one way, 30 round trips of 256 B. */
const REACH_LOAD = { messages: 100, messageBytes: KIB64, roundTrips: 30, roundTripBytes: 256 };
const REACH_PATHS: readonly ReachPath[] = ['direct', 'holepunched', 'relayed'];

const MIB = 1024 * 1024;
/** The design's figure: a file of 256 MiB, in 256 KiB chunks (the default), at most 16 of them pending. */
const FILE_MIB = 256;
const FILE_CHUNK_BYTES = 256 * 1024;
const FILE_WINDOW_CHUNKS = 16;
const FILE_SIZE_OPTION = '--file-mib=';
/** 2 s of the message stream before the offer, the idle figures. */
const FILE_STREAM = { idleMessages: 200, messageBytes: 256, messageIntervalMs: 10 };
const RAW_WS_FRAMES = `raw ws one-way 256 KiB frames, ${FILE_WINDOW_CHUNKS} in flight (MB/s)`;

interface Section {
  key: string;
  title: string;
  /** Why this machine cannot run the section, checked before any section runs; undefined when it can. */
  obstacle?(): string | undefined;
  /**
   * Set when the section runs in a process of its own and profiles it
   * there: `run` gets the profile's path when the bench profiles (null
   * otherwise) and returns the hottest functions itself.
   */
  profilesInChild?: boolean;
  run(results: Results, profilePath: string | null): Promise<string>;
}

const SECTIONS: Section[] = [
  {
    key: 'baselines',
    title: 'raw ws baselines (and the disk)',
    run: async (results) => {
      for (const [bytes, window, label] of [[256, WINDOW_256, '256 B'], [KIB64, WINDOW_64K, '64 KiB']] as const) {
        const report = await throughputInChild({ implementation: 'ws', payloadBytes: bytes, window, warmUpMs: 300, durationMs: WS_THROUGHPUT_MS, repetitions: REPETITIONS, profilePath: null });
        const { runs } = report;
        results.addBaseline(`raw ws one-way ${label} (msgs/s)`, 'msgs/s', summarize(runs.map((run) => run.messagesPerSecond)));
        results.addBaseline(`raw ws one-way ${label} (MB/s)`, 'MB/s', summarize(runs.map((run) => (run.messagesPerSecond * bytes) / 1e6)));
        results.addBaseline(`raw ws CPU per message ${label} (µs)`, 'µs', summarize(runs.map((run) => run.cpuUsPerMessage)));
        results.addBaseline(`raw ws client and server RSS after one-way ${label} (MB)`, 'MB', summarize([report.rssAfterMb]));
      }
      const trips = await repeat(REPETITIONS, () => wsRoundTrips(ROUND_TRIPS, 256));
      results.addBaseline('raw ws round trip 256 B, p50 (ms)', 'ms', summarize(trips.map((run) => run.p50Ms)));
      results.addBaseline('raw ws round trip 256 B, p99 (ms)', 'ms', summarize(trips.map((run) => run.p99Ms)));
      results.addBaseline('raw ws round trips 256 B, one at a time (per s)', 'round trips/s', summarize(trips.map((run) => run.perSecond)));
      const connects = await repeat(REPETITIONS, () => wsConnectTimes(CONNECTIONS));
      results.addBaseline('raw ws connect, median (ms)', 'ms', summarize(connects.map((times) => percentile(times, 50))));
      const syncs = await repeat(REPETITIONS, async () => fsyncTimes(200, 330));
      results.addBaseline('disk: append 330 B + fsync, median (ms)', 'ms', summarize(syncs.map((times) => percentile(times, 50))));
      return `ws ${format(trips.map((run) => run.p50Ms))} ms round trip`;
    },
  },
  {
    key: 'crypto',
    title: 'crypto micro-benchmark: node:crypto (OpenSSL) vs noble',
    run: async (results) => {
      const lines: string[] = [];
      for (const operation of cryptoOperations()) {
        const node: number[] = [];
        const noble: number[] = [];
        for (let i = 0; i < SLOW_REPETITIONS; i += 1) {
          node.push(opsPerSecond(operation.node, CRYPTO_MS));
          noble.push(opsPerSecond(operation.noble, CRYPTO_MS));
        }
        const nobleName = `${operation.name}, @noble (ops/s)`;
        results.addBaseline(nobleName, 'ops/s', summarize(noble));
        const entry = results.add({ name: `${operation.name}, node:crypto (ops/s)`, unit: 'ops/s', summary: summarize(node), baseline: nobleName });
        lines.push(`${operation.name} ${entry.ratio.toFixed(1)}×`);
      }
      const verification = verifyKeyImport();
      const perCall: number[] = [];
      const cached: number[] = [];
      for (let i = 0; i < SLOW_REPETITIONS; i += 1) {
        perCall.push(opsPerSecond(verification.perCall, CRYPTO_MS));
        cached.push(opsPerSecond(verification.cached, CRYPTO_MS));
      }
      const perCallName = 'Ed25519 verify, key imported from JWK per call as ed25519Verify does (ops/s)';
      results.addBaseline(perCallName, 'ops/s', summarize(perCall));
      const entry = results.add({ name: 'Ed25519 verify, KeyObject made once per peer (ops/s)', unit: 'ops/s', summary: summarize(cached), baseline: perCallName });
      lines.push(`cached verify key ${entry.ratio.toFixed(2)}×`);
      return lines.join(', ');
    },
  },
  ...([
    [256, WINDOW_256, '256 B', '256'],
    [KIB64, WINDOW_64K, '64 KiB', '64k'],
  ] as const).map(
    ([bytes, window, label, key]): Section => ({
      key: `throughput-${key}`,
      title: `one-way throughput ${label} between two nodes (signed, encrypted, fsync'd on both sides; both nodes in a fresh process)`,
      profilesInChild: true,
      run: async (results, profilePath) => {
        const report = await throughputInChild({ implementation: 'p2p-comm', payloadBytes: bytes, window, warmUpMs: 500, durationMs: THROUGHPUT_MS, repetitions: REPETITIONS, profilePath });
        const { runs } = report;
        const perSecond = results.add({
          name: `one-way throughput ${label} (msgs/s)`,
          unit: 'msgs/s',
          summary: summarize(runs.map((run) => run.messagesPerSecond)),
          baseline: `raw ws one-way ${label} (msgs/s)`,
          ...(bytes === 256 ? { target: atLeastRatio(0.1), note: 'aim: ratio ≥ 0.15' } : {}),
        });
        results.add({
          name: `one-way throughput ${label} (MB/s)`,
          unit: 'MB/s',
          summary: summarize(runs.map((run) => run.megabytesPerSecond)),
          baseline: `raw ws one-way ${label} (MB/s)`,
          ...(bytes === KIB64 ? { target: atLeastRatio(0.5) } : {}),
        });
        results.add({
          name: `CPU per message ${label}, both nodes (µs)`,
          unit: 'µs',
          summary: summarize(runs.map((run) => run.cpuUsPerMessage)),
          baseline: `raw ws CPU per message ${label} (µs)`,
        });
        if (bytes === KIB64) {
          results.add({
            name: `RSS after the ${label} runs, both nodes in one process (MB)`,
            unit: 'MB',
            summary: summarize([report.rssAfterMb]),
            baseline: `raw ws client and server RSS after one-way ${label} (MB)`,
            target: atMost(150, 'MB'),
            note: `the process that ran the warm-up and the ${REPETITIONS} runs, after the last pair closed; peak ${format([report.peakRssMb])} MB`,
          });
        }
        const hottest = report.hottest.map((line) => `\n    ${line}`).join('');
        return `${Math.round(perSecond.median)} msgs/s${hottest === '' ? '' : `; hottest functions (self time), profile in ${profilePath ?? ''}:${hottest}`}`;
      },
    }),
  ),
  {
    key: 'latency',
    title: 'send → receive latency, one message at a time',
    run: async (results) => {
      const runs = await repeat(REPETITIONS, () => p2pLatency(LATENCY_MESSAGES, 256));
      const p50 = results.add({
        name: 'latency send → stored at receiver, p50 (ms)',
        unit: 'ms',
        summary: summarize(runs.map((run) => run.storedP50Ms)),
        baseline: 'raw ws round trip 256 B, p50 (ms)',
        target: atMost(0.65, 'ms'),
      });
      results.add({ name: 'latency send → stored at receiver, p99 (ms)', unit: 'ms', summary: summarize(runs.map((run) => run.storedP99Ms)), baseline: 'raw ws round trip 256 B, p99 (ms)' });
      results.add({ name: 'latency send → returned by a waiting receive, p50 (ms)', unit: 'ms', summary: summarize(runs.map((run) => run.polledP50Ms)), baseline: 'raw ws round trip 256 B, p50 (ms)' });
      results.add({ name: 'latency send → returned by a waiting receive, p99 (ms)', unit: 'ms', summary: summarize(runs.map((run) => run.polledP99Ms)), baseline: 'raw ws round trip 256 B, p99 (ms)' });
      return `p50 ${p50.median.toFixed(2)} ms`;
    },
  },
  {
    key: 'handshake',
    title: 'handshake: connect + authenticate',
    run: async (results) => {
      await handshakeTimes(20);
      const runs = await repeat(REPETITIONS, () => handshakeTimes(CONNECTIONS));
      const entry = results.add({
        name: 'handshake: connect + authenticate, median (ms)',
        unit: 'ms',
        summary: summarize(runs.map((times) => percentile(times, 50))),
        baseline: 'raw ws connect, median (ms)',
        target: atMost(5, 'ms'),
      });
      return `${entry.median.toFixed(2)} ms`;
    },
  },
  {
    key: 'stdio',
    title: 'stdio JSON-RPC: send vs the no-op status, through a Nexus-style host',
    run: async (results) => {
      const bench = await startStdioBench();
      try {
        await bench.statusCalls(50);
        await bench.sendCalls(50);
        const status: number[] = [];
        const send: number[] = [];
        const events: number[] = [];
        for (let i = 0; i < REPETITIONS; i += 1) {
          status.push(await bench.statusCalls(STDIO_CALLS));
          const run = await bench.sendCalls(STDIO_CALLS);
          send.push(run.perSecond);
          events.push(run.eventsPerCall);
        }
        results.add({ name: 'stdio: status, the no-op call (calls/s)', unit: 'calls/s', summary: summarize(status), baseline: 'raw ws round trips 256 B, one at a time (per s)' });
        const entry = results.add({
          name: 'stdio: send 256 B (calls/s)',
          unit: 'calls/s',
          summary: summarize(send),
          baseline: 'stdio: status, the no-op call (calls/s)',
          target: atLeastRatio(0.25),
          note: `each send call also carried ${format(events)} event.publish round trips (deliveries of earlier messages), as under Nexus`,
        });
        return `send/status ${entry.ratio.toFixed(2)}`;
      } finally {
        await bench.stop();
      }
    },
  },
  {
    key: 'startup',
    title: 'startup: spawn to initialize answered, and idle memory, single-file executable vs bundle',
    run: async (results) => {
      const bundle = await repeat(REPETITIONS, () => startupRun({ binary: BUNDLE }));
      // The executable must need no Node: it runs with none on the PATH.
      const sea = await repeat(REPETITIONS, () => startupRun({ binary: SEA_LINUX_X64, env: { ...process.env, PATH: '/usr/sbin:/sbin' } }));
      results.addBaseline('bundle under the machine\'s Node: spawn to initialize answered (ms)', 'ms', summarize(bundle.map((run) => run.initializeMs)));
      results.addBaseline('bundle under the machine\'s Node: idle RSS (MB)', 'MB', summarize(bundle.map((run) => run.idleRssMb)));
      const startup = results.add({
        name: 'single-file executable: spawn to initialize answered (ms)',
        unit: 'ms',
        summary: summarize(sea.map((run) => run.initializeMs)),
        baseline: 'bundle under the machine\'s Node: spawn to initialize answered (ms)',
      });
      results.add({
        name: 'single-file executable: idle RSS (MB)',
        unit: 'MB',
        summary: summarize(sea.map((run) => run.idleRssMb)),
        baseline: 'bundle under the machine\'s Node: idle RSS (MB)',
      });
      return `${startup.median.toFixed(0)} ms to initialize`;
    },
  },
  {
    key: 'flood',
    title: 'flood: host calls answered while a paired peer floods the node as fast as it can',
    run: async (results) => {
      const lines: string[] = [];
      for (const mode of ['valid', 'junk'] as const) {
        const runs = await repeat(SLOW_REPETITIONS, () => floodRun(mode, FLOOD_MS));
        const what = mode === 'valid' ? 'valid batches of one message, each checked and stored' : 'junk batches, until the node cut the session';
        results.add({
          name: `flood (${mode}): rate the flooder reached (msgs/s)`,
          unit: 'msgs/s',
          summary: summarize(runs.map((run) => run.floodPerSecond)),
          baseline: 'raw ws one-way 256 B (msgs/s)',
          note: mode === 'valid' ? `${what}; acknowledged as stored` : `${what}; cut off in ${runs.filter((run) => run.cutOff).length} of ${runs.length} runs, then ${format(runs.map((run) => run.reconnects))} refused reconnection attempts`,
        });
        const p99 = results.add({
          name: `flood (${mode}): status call p99 during the flood (ms)`,
          unit: 'ms',
          summary: summarize(runs.map((run) => run.statusP99Ms)),
          baseline: 'raw ws round trip 256 B, p99 (ms)',
          target: atMost(50, 'ms'),
          note: `${format(runs.map((run) => run.statusCalls))} calls per ${FLOOD_MS / 1000} s run; p50 ${format(runs.map((run) => run.statusP50Ms))} ms, max ${format(runs.map((run) => run.statusMaxMs))} ms`,
        });
        lines.push(`${mode} ${format(runs.map((run) => run.floodPerSecond))}/s, status p99 ${p99.median.toFixed(1)} ms`);
      }
      return lines.join('; ');
    },
  },
  {
    key: 'files',
    title: 'file transfer A → B, each node in its own process, with a 256 B message every 10 ms',
    profilesInChild: true,
    run: async (results, profilePath) => {
      const size = fileSizeBytes();
      const label = `${size / MIB} MiB`;
      // Frames of the chunk size and as many in flight as the file window: the same load on the same loopback, nothing signed, stored or hashed.
      const raw = await throughputInChild({ implementation: 'ws', payloadBytes: FILE_CHUNK_BYTES, window: FILE_WINDOW_CHUNKS, warmUpMs: 300, durationMs: WS_THROUGHPUT_MS, repetitions: SLOW_REPETITIONS, profilePath: null });
      results.addBaseline(RAW_WS_FRAMES, 'MB/s', summarize(raw.runs.map((run) => run.megabytesPerSecond)));
      const sourceDir = mkdtempSync(join(tmpdir(), 'p2p-comm-bench-file-'));
      let runs: FilesRun[];
      try {
        const sourcePath = join(sourceDir, 'source.bin');
        await writeRandomFile(sourcePath, size);
        // A profiled run is one run: the profiler slows it, and the profiles of one are what is read.
        const profilePaths = profilePath === null ? null : { sender: profilePath.replace(/\.cpuprofile$/, '-sender.cpuprofile'), receiver: profilePath.replace(/\.cpuprofile$/, '-receiver.cpuprofile') };
        runs = await repeat(profilePaths === null ? SLOW_REPETITIONS : 1, () => filesRun({ sourcePath, size, ...FILE_STREAM, profilePaths }));
      } finally {
        rmSync(sourceDir, { recursive: true, force: true });
      }
      const transfer = results.add({
        name: `file ${label} A → B: accept → p2p.file.received at B (MB/s)`,
        unit: 'MB/s',
        summary: summarize(runs.map((run) => run.megabytesPerSecond)),
        baseline: RAW_WS_FRAMES,
        target: atLeastRatio(0.25),
        note:
          `${format(runs.map((run) => run.transferMs / 1000))} s from accept to received: every chunk signed, sealed, stored in both logs, written to the part file and fsync'd, ` +
          `then the whole file hashed and linked into incoming/; raw ws: ${WS_THROUGHPUT_MS / 1000} s runs, client and server in one process`,
      });
      results.add({
        name: `file ${label}: sender hashing before the offer (MB/s)`,
        unit: 'MB/s',
        summary: summarize(runs.map((run) => size / 1e6 / (run.hashMs / 1000))),
        baseline: transfer.name,
        note: `${format(runs.map((run) => run.hashMs))} ms for the whole-file and per-chunk SHA-256, from sendFromFolder to the offer sent; not part of the transfer time`,
      });
      const stream = `${FILE_STREAM.messageBytes} B message every ${FILE_STREAM.messageIntervalMs} ms, send → stored at B`;
      const latencies: [string, (latency: MessageLatency) => number][] = [['p50', (latency) => latency.p50Ms], ['p99', (latency) => latency.p99Ms], ['max', (latency) => latency.maxMs]];
      let p99 = 0;
      for (const [which, of] of latencies) {
        const idle = `${stream}, idle before the offer, ${which} (ms)`;
        results.addBaseline(idle, 'ms', summarize(runs.map((run) => of(run.idle))));
        const entry = results.add({
          name: `${stream}, during the file transfer, ${which} (ms)`,
          unit: 'ms',
          summary: summarize(runs.map((run) => of(run.duringTransfer))),
          baseline: idle,
          ...(which === 'p99' ? { target: atMost(20, 'ms') } : {}),
          ...(which === 'p50' ? { note: `${format(runs.map((run) => run.duringTransfer.count))} messages sent between accept and received (${FILE_STREAM.idleMessages} idle)` } : {}),
        });
        if (which === 'p99') p99 = entry.median;
      }
      for (const role of ['sender', 'receiver'] as const) {
        const before = `file ${role} node process RSS before the transfer (MB)`;
        results.addBaseline(before, 'MB', summarize(runs.map((run) => run[role].rssBeforeMb)));
        results.add({ name: `file ${label}: ${role} node process peak RSS (MB)`, unit: 'MB', summary: summarize(runs.map((run) => run[role].peakRssMb)), baseline: before, note: 'VmHWM of the process, read after the transfer' });
      }
      const hottest = runs.flatMap((run) => [
        ...(run.hottest.sender.length === 0 ? [] : ['sender:', ...run.hottest.sender]),
        ...(run.hottest.receiver.length === 0 ? [] : ['receiver:', ...run.hottest.receiver]),
      ]);
      const profiles = hottest.length === 0 ? '' : `; hottest functions (self time), profiles beside ${profilePath ?? ''}:${hottest.map((line) => `\n    ${line}`).join('')}`;
      return `${transfer.median.toFixed(0)} MB/s, ${transfer.ratio.toFixed(2)}× raw ws; message p99 ${p99.toFixed(1)} ms during the transfer${profiles}`;
    },
  },
  {
    key: 'reach',
    title: 'reach: pairing, throughput and round trip over a direct, a hole-punched and a relayed session between two built nodes (NATs in network namespaces)',
    obstacle: natTopologyObstacle,
    run: async (results) => {
      const runs: Record<ReachPath, ReachRun[]> = { direct: [], holepunched: [], relayed: [] };
      // Path after path within each repetition: a change in the machine's load reaches all three alike.
      await repeat(REPETITIONS, async () => {
        for (const path of REACH_PATHS) runs[path].push(await reachRun(path, REACH_LOAD));
      });
      const batch = `${REACH_LOAD.messages} × 64 KiB, first send → all read at B`;
      const figures: { label: string; unit: string; of: (run: ReachRun) => number }[] = [
        { label: 'pair → session online on both nodes (ms)', unit: 'ms', of: (run) => run.setupMs },
        { label: `${batch} (MB/s)`, unit: 'MB/s', of: (run) => run.megabytesPerSecond },
        { label: `${batch} (msgs/s)`, unit: 'msgs/s', of: (run) => run.messagesPerSecond },
        { label: 'round trip A → B → A 256 B, p50 (ms)', unit: 'ms', of: (run) => run.roundTripP50Ms },
        { label: 'round trip A → B → A 256 B, p95 (ms)', unit: 'ms', of: (run) => run.roundTripP95Ms },
      ];
      const name = (path: ReachPath, label: string): string => `reach ${path === 'direct' ? 'direct (TCP on 127.0.0.1)' : path}: ${label}`;
      for (const { label, unit, of } of figures) results.addBaseline(name('direct', label), unit, summarize(runs.direct.map(of)));
      const lines: string[] = [];
      for (const path of ['holepunched', 'relayed'] as const) {
        for (const { label, unit, of } of figures) {
          results.add({ name: name(path, label), unit, summary: summarize(runs[path].map(of)), baseline: name('direct', label) });
        }
        const median = (of: (run: ReachRun) => number): string => format(runs[path].map(of));
        lines.push(`${path} ${median((run) => run.setupMs)} ms to pair, ${median((run) => run.megabytesPerSecond)} MB/s, ${median((run) => run.roundTripP50Ms)} ms round trip`);
      }
      return lines.join('; ');
    },
  },
  ...[100, 1000].map(
    (peers): Section => ({
      key: `scale-${peers}`,
      title: `scale: one node, ${peers.toLocaleString('en-US')} paired peers (node in its own process)`,
      run: async (results) => {
        const label = `${peers.toLocaleString('en-US')} peers`;
        const ws = await repeat(SLOW_REPETITIONS, () => scaleRun('ws-server', peers, SCALE_CONCURRENCY, SCALE_SIMULATOR_THREADS));
        const node = await repeat(SLOW_REPETITIONS, () => scaleRun('p2p-node', peers, SCALE_CONCURRENCY, SCALE_SIMULATOR_THREADS));
        results.addBaseline(`raw ws server RSS, ${label}, peak (MB)`, 'MB', summarize(ws.map((run) => run.peakRssMb)));
        results.addBaseline(`raw ws connects/s, ${label}`, 'connects/s', summarize(ws.map((run) => run.connectsPerSecond)));
        results.addBaseline(`raw ws fan-out 256 B echoed, ${label} (msgs/s)`, 'msgs/s', summarize(ws.map((run) => run.fanOutPerSecond)));
        const rss = results.add({
          name: `scale ${label}: node RSS, peak (MB)`,
          unit: 'MB',
          summary: summarize(node.map((run) => run.peakRssMb)),
          baseline: `raw ws server RSS, ${label}, peak (MB)`,
          ...(peers >= 1000 ? { target: atMost(300, 'MB') } : {}),
          note: `measured in the node's own process (peak RSS, VmHWM); ${format(node.map((run) => run.idleRssMb))} MB before any peer connected, ${format(node.map((run) => run.rssMb))} MB after the fan-out`,
        });
        results.add({
          name: `scale ${label}: handshakes/s while bringing them up`,
          unit: 'handshakes/s',
          summary: summarize(node.map((run) => run.connectsPerSecond)),
          baseline: `raw ws connects/s, ${label}`,
          ...(peers >= 1000 ? { target: atLeast(300, 'handshakes/s') } : {}),
          note:
            `CPU per handshake: ${format(node.map((run) => run.childCpuPerConnectUs))} µs in the node, ` +
            `${format(node.map((run) => run.simulatorCpuPerConnectUs))} µs in the simulated peers (raw ws: ${format(ws.map((run) => run.childCpuPerConnectUs))} µs in the server)`,
        });
        results.add({
          name: `scale ${label}: fan-out 256 B, one per peer, until acked (msgs/s)`,
          unit: 'msgs/s',
          summary: summarize(node.map((run) => run.fanOutPerSecond)),
          baseline: `raw ws fan-out 256 B echoed, ${label} (msgs/s)`,
        });
        return `${Math.round(rss.median)} MB peak`;
      },
    }),
  ),
];

function format(values: readonly number[]): string {
  const median = percentile(values, 50);
  return median >= 10 ? median.toFixed(0) : median.toFixed(2);
}

/** `--file-mib=<n>`: the size of the file sent in the files section. */
function fileSizeBytes(): number {
  const option = process.argv.find((arg) => arg.startsWith(FILE_SIZE_OPTION));
  if (option === undefined) return FILE_MIB * MIB;
  const mib = Number(option.slice(FILE_SIZE_OPTION.length));
  if (!Number.isInteger(mib) || mib < 1 || mib > 1024) throw new Error(`${option}: give a whole number of MiB from 1 to 1024 (the file service's default limit is 1 GiB)`);
  return mib * MIB;
}

function selectedSections(): Section[] {
  const only = process.argv.find((arg) => arg.startsWith('--only='));
  if (only === undefined) return SECTIONS;
  const keys = new Set(only.slice('--only='.length).split(','));
  const unknown = [...keys].filter((key) => !SECTIONS.some((section) => section.key === key));
  if (unknown.length > 0) throw new Error(`unknown section ${unknown.join(', ')}; sections: ${[...new Set(SECTIONS.map((section) => section.key))].join(', ')}`);
  // The baselines always run: no figure without one.
  return SECTIONS.filter((section) => section.key === 'baselines' || keys.has(section.key));
}

async function main(): Promise<void> {
  const sections = selectedSections();
  const obstacles = sections.flatMap((section) => {
    const obstacle = section.obstacle?.();
    return obstacle === undefined ? [] : [`the ${section.key} section cannot run here: ${obstacle}. Leave it out with --only=<the other sections>.`];
  });
  // Before anything runs: a section this machine cannot run is an error, never a silent gap in the table.
  if (obstacles.length > 0) throw new Error(obstacles.join('\n'));
  const profile = process.argv.includes('--profile');
  const partial = profile || sections.length < SECTIONS.length || process.argv.some((arg) => arg.startsWith(FILE_SIZE_OPTION));
  const results = new Results();
  const began = nowMs();
  const loadAtStart = currentLoad();
  if (loadAtStart > cpus().length / 2) {
    process.stderr.write(`the machine is busy (load average ${loadAtStart} on ${cpus().length} CPUs): every figure will be noisy, the ratios less so\n`);
  }
  for (const [index, section] of sections.entries()) {
    const step = `[${index + 1}/${sections.length}]`;
    process.stderr.write(`${step} ${section.title} …\n`);
    const start = nowMs();
    let summary: string;
    if (profile && section.profilesInChild === true) {
      summary = await section.run(results, resolve(process.cwd(), 'bench', `${index + 1}-${section.key}.cpuprofile`));
    } else if (profile && section.key !== 'baselines') {
      const path = resolve(process.cwd(), 'bench', `${index + 1}-${section.key}.cpuprofile`);
      const profiledRun = await profiled(path, () => section.run(results, null));
      summary = profiledRun.result;
      process.stderr.write(`${step} hottest functions (self time; native code counts for its caller), profile in ${path}:\n${profiledRun.hottest.map((line) => `    ${line}\n`).join('')}`);
    } else {
      summary = await section.run(results, null);
    }
    process.stderr.write(`${step} ${section.title}: ${summary} (${((nowMs() - start) / 1000).toFixed(1)} s)\n`);
  }
  const file = results.file(describeMachine(loadAtStart));
  if (!partial) writeFileSync(RESULTS_FILE, `${JSON.stringify(file, null, 2)}\n`);
  process.stdout.write(renderMarkdown(file));
  process.stderr.write(`done in ${((nowMs() - began) / 1000).toFixed(0)} s${partial ? ' (partial or profiled run: results.json left as it was)' : `; wrote ${RESULTS_FILE}`}\n`);
}

const child = process.argv.find((arg) => arg.startsWith('--bench-child='));
const childKind = child?.slice('--bench-child='.length);
const entry = process.argv.includes(SIM_PEERS_THREAD_FLAG)
  ? runSimulatedPeersThread()
  : childKind === undefined
    ? main()
    : childKind === 'flooder'
      ? runFloodChild()
      : childKind === 'throughput'
        ? runThroughputChild()
        : childKind === 'files-node'
          ? runFilesNodeChild()
          : runScaleChild(childKind as ChildKind);
entry.catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
