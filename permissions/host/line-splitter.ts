/** Splits a byte stream into newline-terminated lines (the newline is not included). */
export class LineSplitter {
  private pending: Buffer[] = [];

  push(chunk: Buffer, onLine: (line: string) => void): void {
    let start = 0;
    for (let newline = chunk.indexOf(0x0a); newline !== -1; newline = chunk.indexOf(0x0a, start)) {
      this.pending.push(chunk.subarray(start, newline));
      onLine(Buffer.concat(this.pending).toString('utf8'));
      this.pending = [];
      start = newline + 1;
    }
    if (start < chunk.length) this.pending.push(Buffer.from(chunk.subarray(start)));
  }
}
