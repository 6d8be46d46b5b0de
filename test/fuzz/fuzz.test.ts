import fc from 'fast-check';
import t from 'tap';
import { fuzzInput } from './mutate';
import { fuzzTargets } from './targets';

/** A short seeded run of every fuzz target; `npm run fuzz` runs them longer. */
const RUNS = 300;

for (const target of fuzzTargets()) {
  t.test(target.name, async (t) => {
    for (const seed of target.seeds) await target.run(seed);
    await fc.assert(fc.asyncProperty(fuzzInput(target.seeds), async (input) => {
      await target.run(input);
    }), { numRuns: RUNS, seed: 20261122 });
    t.pass(`${RUNS} seeded inputs, no crash`);
  });
}
