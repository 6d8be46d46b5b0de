import { close } from 'node:fs';

/**
 * A file descriptor that reads borrow while its owner may replace it. A
 * descriptor closed while a read on it still waits in the thread pool can
 * be handed out again by the next open, and the read would then land in
 * another file; so a retired descriptor is closed only once the last read
 * that borrowed it is done.
 */
export class SharedDescriptor {
  private readers = 0;
  private retired: Promise<void> | undefined;
  private closeWhenIdle: (() => void) | undefined;

  constructor(readonly fd: number) {}

  /** Runs `read` with the descriptor held open until the promise it returns settles. */
  async borrow<T>(read: (fd: number) => Promise<T>): Promise<T> {
    if (this.retired !== undefined) throw new Error(`file descriptor ${this.fd} is retired: borrow the one that replaced it`);
    this.readers += 1;
    try {
      return await read(this.fd);
    } finally {
      this.readers -= 1;
      if (this.readers === 0) this.closeWhenIdle?.();
    }
  }

  /** No read may borrow it from now on; resolves once it is closed, after the reads under way. */
  retire(): Promise<void> {
    this.retired ??= new Promise((resolve, reject) => {
      this.closeWhenIdle = () => {
        this.closeWhenIdle = undefined;
        close(this.fd, (error) => (error === null ? resolve() : reject(error)));
      };
      if (this.readers === 0) this.closeWhenIdle();
    });
    return this.retired;
  }
}
