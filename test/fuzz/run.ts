import fc from 'fast-check';
import { fuzzInput } from './mutate';
import { fuzzTargets } from './targets';

/**
 * `npm run fuzz`: each target for a bounded time (P2P_COMM_FUZZ_SECONDS,
 * default 20), random seed printed so any finding can be replayed. Prints
 * inputs run and inputs/s per target; exits 1 on a finding.
 */
const seconds = Number(process.env['P2P_COMM_FUZZ_SECONDS'] ?? '20');
const seed = Number(process.env['P2P_COMM_FUZZ_SEED'] ?? Date.now() % 2 ** 31);
let failed = false;
process.stdout.write(`seed ${seed}, ${seconds} s per target\n\n| target | inputs | inputs/s |\n|---|---:|---:|\n`);
async function main(): Promise<void> {
  for (const target of fuzzTargets()) {
    let count = 0;
    const started = process.hrtime.bigint();
    const result = await fc.check(
      fc.asyncProperty(fuzzInput(target.seeds), async (input) => {
        count += 1;
        await target.run(input);
      }),
      { numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: seconds * 1000, seed, markInterruptAsFailure: false },
    );
    const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
    process.stdout.write(`| ${target.name} | ${count} | ${Math.round(count / elapsed)} |\n`);
    if (result.failed) {
      failed = true;
      process.stderr.write(`finding in ${target.name}: ${String(result.errorInstance)}\ncounterexample: ${JSON.stringify(result.counterexample)}\n`);
    }
  }
}

main().then(
  () => process.exit(failed ? 1 : 0),
  (error: unknown) => {
    process.stderr.write(`fuzz run failed: ${String(error)}\n`);
    process.exit(2);
  },
);
