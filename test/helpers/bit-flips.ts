/** Every copy of `bytes` with one bit flipped (the lowest bit of each byte in turn), with the byte's index. */
export function* oneBitFlips(bytes: Uint8Array): Generator<[number, Uint8Array]> {
  for (let index = 0; index < bytes.length; index += 1) {
    const copy = Uint8Array.from(bytes);
    copy[index] = (copy[index] as number) ^ 1;
    yield [index, copy];
  }
}
