import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/**
 * The bench runs some scenarios in a process of their own (so that their
 * memory is their own, or so that a flooder does not share the node's CPU):
 * the bench's own entry point again, with `--bench-child=<role>` saying
 * which part to play, talking to the parent over the IPC channel. Its
 * stdout is ignored, its stderr is the bench's.
 */
export function forkBenchChild(role: string, execArgv: readonly string[] = []): ChildProcess {
  return fork(benchEntry(), [`--bench-child=${role}`], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [...process.execArgv, ...execArgv] });
}

/** The bench's own entry point, which children and worker threads run again. */
export function benchEntry(): string {
  const entry = process.argv[1];
  if (entry === undefined) throw new Error('cannot tell which script the bench runs from');
  return entry;
}

/** The child's next message; fails if the child exits first (its error is on stderr). */
export async function nextFromChild(child: ChildProcess, role: string): Promise<unknown> {
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`the ${role} child exited (code ${String(code)}) before answering`);
  });
  const [message] = (await Promise.race([once(child, 'message'), exited])) as [unknown];
  return message;
}

/** In the child: the parent's next message. */
export function nextFromParent(): Promise<unknown> {
  return new Promise((resolve) => process.once('message', resolve));
}

/** In the child: a message to the parent. */
export function sendToParent(message: unknown): void {
  process.send?.(message);
}
