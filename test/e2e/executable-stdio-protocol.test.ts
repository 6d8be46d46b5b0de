import { againstThisMachineExecutable } from '../helpers/this-machine-executable';

// The tests of stdio-protocol.test.ts, against the single-file executable rather than the bundle.
againstThisMachineExecutable(() => require('./stdio-protocol.test'));
