/** Lower-case hex of the bytes, read where they are (no copy, as `Buffer.from(bytes)` would make). */
export function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}
