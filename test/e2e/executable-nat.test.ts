import { againstThisMachineExecutable } from '../helpers/this-machine-executable';

// The tests of nat.test.ts, against the single-file executable rather than the bundle.
againstThisMachineExecutable(() => require('./nat.test'));
