import { againstThisMachineExecutable } from '../helpers/this-machine-executable';

// The tests of dht.test.ts, against the single-file executable rather than the bundle.
againstThisMachineExecutable(() => require('./dht.test'));
