/**
 * What the helpers that start processes, create namespaces or make
 * directories need from their caller: somewhere to register the undoing.
 * A tap `Test` is one; a program without tap (the bench) uses a
 * TeardownList.
 */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

/** Teardown steps run on demand, last registered first, every one of them even when some fail. */
export class TeardownList implements Teardown {
  private readonly steps: (() => unknown)[] = [];

  teardown(fn: () => unknown): void {
    this.steps.push(fn);
  }

  /** Runs and forgets every step; rejects afterwards with the first failure, if any. */
  async run(): Promise<void> {
    const failures: unknown[] = [];
    for (let step = this.steps.pop(); step !== undefined; step = this.steps.pop()) {
      try {
        await step();
      } catch (error) {
        failures.push(error);
      }
    }
    if (failures.length > 0) throw failures[0];
  }
}
