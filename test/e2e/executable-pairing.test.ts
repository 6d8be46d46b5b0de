import { againstThisMachineExecutable } from '../helpers/this-machine-executable';

// The tests of pairing.test.ts, against the single-file executable rather than the bundle.
againstThisMachineExecutable(() => require('./pairing.test'));
