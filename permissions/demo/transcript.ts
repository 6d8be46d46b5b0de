/** The demo's readable record: numbered steps, with each host's decisions indented under them. */
export class Transcript {
  private count = 0;

  constructor(private readonly write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)) {}

  step(who: string, text: string): void {
    this.count += 1;
    this.write(`${String(this.count).padStart(2)}. ${who.padEnd(5)} ${text}`);
  }

  note(who: string, text: string): void {
    this.write(`      ${who.padEnd(5)} host: ${text}`);
  }
}
