import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import t from 'tap';
import { verifyBinary } from '../../permissions/host/binary-signature';
import { checkInstallableManifest } from '../../permissions/host/manifest-rules';
import { THIS_MACHINE_EXECUTABLE } from '../helpers/this-machine-executable';

/**
 * What `npm test` built for this machine (npm run package -- --target
 * x86_64-unknown-linux-gnu): the manifest beside the executable passes
 * Nexus's validate(), names the executable by a relative file:// url, and
 * its signature verifies as Nexus's verify_binary checks it.
 */
t.test('the Install from File manifest of this machine\'s executable passes Nexus\'s checks', async (t) => {
  const manifestPath = join(dirname(THIS_MACHINE_EXECUTABLE), 'manifest.json');
  t.ok(existsSync(manifestPath), 'written beside the executable');
  const packaged = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>;
  t.equal(checkInstallableManifest(packaged), null, 'validate() accepts it');
  const source = JSON.parse(readFileSync(join(__dirname, '..', '..', 'manifest.json'), 'utf8')) as Record<string, unknown>;
  const { binaries, author_public_key: key, ...rest } = packaged;
  const { binaries: _b, author_public_key: _k, ...sourceRest } = source;
  t.same(rest, sourceRest, 'everything else is manifest.json as it is');
  const entry = (binaries as Record<string, { url: string; sha256: string; signature: string }>)['x86_64-unknown-linux-gnu'];
  t.equal(entry?.url, 'file://extension', 'found from the manifest\'s folder');
  const bytes = readFileSync(THIS_MACHINE_EXECUTABLE);
  t.equal(verifyBinary(bytes, entry as { sha256: string; signature: string }, key as string), null, 'its signature verifies');
  const changed = Uint8Array.from(bytes.subarray(0, 1 << 20));
  t.not(verifyBinary(changed, entry as { sha256: string; signature: string }, key as string), null, 'a different file does not');
});
