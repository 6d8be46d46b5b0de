import type { Readable, Writable } from 'node:stream';
import { createMessageConnection, ResponseError, type MessageConnection } from 'vscode-jsonrpc';
import type { StdioLimits } from '../config';
import { P2pError } from '../common/errors';
import type { EventOutbox, OutgoingEvent } from '../events/outbox';
import type { Logger } from '../log';
import type { RefusalCounters } from '../metrics/refusals';
import { NewlineMessageReader } from './line-reader';
import { NewlineMessageWriter } from './line-writer';
import { parseExecuteParams, parseHostEvent, parseInitializeParams } from './params';
import type { ExecuteResult, ExtensionApp, InitializeResult, OperationOutcome } from './protocol';
import { REJECTED_LINE_METHOD, type RejectedLineParams } from './rejected-line';
import { RequestIdMap } from './request-ids';
import { SerialQueue } from './serial-queue';

export interface HostSessionOptions {
  input: Readable;
  output: Writable;
  app: ExtensionApp;
  outbox: EventOutbox;
  refusals: RefusalCounters;
  logger: Logger & { release(): void };
  limits: StdioLimits;
  exit: (code: number) => void;
}

type SessionState = 'awaiting-initialize' | 'ready' | 'closing';

const SERVED_METHODS = 'initialize, execute, resources.<verb>, shutdown (and the event.received notification)';

/** Nexus's calls for the resource types of the manifest: `resources.list`, `resources.get`, ... */
const RESOURCE_METHOD_PREFIX = 'resources.';

/**
 * One Nexus host talking to this process over stdio: the protocol of
 * HOST_PROTOCOL.md on top of vscode-jsonrpc's connection. Requests are served
 * strictly in arrival order; events go to the host only while an execute is
 * in flight, because that is the only time Nexus reads our stdout.
 */
export class HostSession {
  private readonly queue = new SerialQueue();
  private readonly reader: NewlineMessageReader;
  private readonly writer: NewlineMessageWriter;
  private readonly connection: MessageConnection;
  private state: SessionState = 'awaiting-initialize';
  private exiting = false;
  private requestsAnswered = 0;
  /** event.publish requests written whose reply has not come (nor timed out). */
  private unansweredPublishes = 0;
  /** Set when the session should end once every received request is answered. */
  private stopReason: string | null = null;
  /** Rejects when stdin closes: a reply the host has not written by then never comes. */
  private readonly inputGone: Promise<never>;
  private markInputGone!: (error: Error) => void;

  constructor(private readonly options: HostSessionOptions) {
    const requestIds = new RequestIdMap();
    this.reader = new NewlineMessageReader(options.input, {
      maxLineBytes: options.limits.maxLineBytes,
      requestIds,
      onRefused: (errorName, reason) => {
        options.refusals.count('rpc', errorName.toLowerCase());
        options.logger.warn(`refused input line: ${reason}`);
      },
    });
    this.writer = new NewlineMessageWriter(options.output, requestIds);
    this.inputGone = new Promise<never>((_, reject) => {
      this.markInputGone = reject;
    });
    this.inputGone.catch(() => undefined);
    this.connection = createMessageConnection(this.reader, this.writer, {
      error: (message) => options.logger.error(message),
      warn: (message) => options.logger.warn(message),
      info: (message) => options.logger.debug(message),
      log: (message) => options.logger.debug(message),
    });
  }

  start(): void {
    this.connection.onRequest((method, params) =>
      this.queue
        .run(() => this.handleRequest(method, params))
        .catch((error: unknown) => {
          throw this.toResponseError(method, error);
        })
        .finally(() => {
          this.requestsAnswered += 1;
          this.shutdownIfDrained();
        }),
    );
    this.connection.onNotification((method, params) => this.handleNotification(method, params));
    this.connection.onClose(() => this.onInputClosed());
    this.connection.onError(([error]) => this.options.logger.error(`stdio error: ${error.message}`));
    this.connection.listen();
  }

  private async handleRequest(method: string, params: unknown): Promise<unknown> {
    if (method === REJECTED_LINE_METHOD) {
      const rejected = params as RejectedLineParams;
      throw new P2pError(rejected.errorName, rejected.message);
    }
    if (this.state === 'closing') {
      throw new P2pError('SHUTTING_DOWN', `p2p-comm is shutting down and no longer serves "${method}"`);
    }
    switch (method) {
      case 'initialize':
        return this.initialize(params);
      case 'execute':
        this.requireInitialized(method);
        return this.execute(params);
      case 'shutdown':
        this.beginShutdown('the host asked for shutdown');
        return null;
      default:
        if (method.startsWith(RESOURCE_METHOD_PREFIX)) {
          this.requireInitialized(method);
          const verb = method.slice(RESOURCE_METHOD_PREFIX.length);
          return this.answerWithEvents(() => this.options.app.resource(verb, params));
        }
        throw new P2pError('METHOD_NOT_FOUND', `unknown method "${method}"; p2p-comm serves ${SERVED_METHODS}`);
    }
  }

  private async initialize(params: unknown): Promise<InitializeResult> {
    if (this.state === 'ready') {
      throw new P2pError('ALREADY_INITIALIZED', 'initialize was already answered; it may be sent once per process');
    }
    const result = await this.options.app.initialize(parseInitializeParams(params));
    this.state = 'ready';
    // Nexus holds a global lock until it reads this answer: slow start-up
    // work and stderr output wait until the answer has been written.
    setImmediate(() => {
      void this.writer.idle().then(() => {
        this.options.logger.release();
        this.options.app.start();
      });
    });
    return result;
  }

  private requireInitialized(method: string): void {
    if (this.state !== 'ready') {
      throw new P2pError('NOT_INITIALIZED', `"${method}" arrived before initialize; send initialize first`);
    }
  }

  private async execute(params: unknown): Promise<ExecuteResult> {
    const request = parseExecuteParams(params);
    return this.answerWithEvents(() => this.options.app.execute(request));
  }

  /**
   * Runs one call Nexus waits on (an execute, a resources.* call): the only
   * time it reads our stdout, so queued events go out then.
   */
  private async answerWithEvents(work: () => Promise<OperationOutcome>): Promise<ExecuteResult> {
    // Events queued before this call go out at once, while it runs (a send's durable write)...
    const budget = { left: this.options.limits.maxEventsPerCall };
    this.publishQueuedEvents(budget);
    try {
      const outcome = await work();
      // `data` must always be present: without it Nexus reports success whatever happened.
      return { success: true, data: outcome.data ?? null, message: outcome.message };
    } finally {
      // ...and those it queued, within the same budget, before its answer.
      this.publishQueuedEvents(budget);
    }
  }

  /**
   * A bounded number of events per execute: the host handles each request
   * it reads before it reads our answer, so a peer that causes events
   * faster than the host reads them must not be able to hold the call up.
   * The requests are written together, and the answer does not wait for
   * the host's replies: the host reads the requests before the answer
   * anyway, and a reply only settles the event's count. At most
   * maxEventsPerCall requests are unanswered at a time, so a host that
   * stops replying stops getting more. What is left waits for the next call.
   */
  private publishQueuedEvents(budget: { left: number }): void {
    const { outbox, limits } = this.options;
    const room = Math.min(budget.left, limits.maxEventsPerCall - this.unansweredPublishes);
    if (room <= 0) return;
    const batch = outbox.takeBatch(room);
    budget.left -= batch.length;
    for (const event of batch) void this.publish(event);
  }

  private async publish(event: OutgoingEvent): Promise<void> {
    const { outbox, logger, limits } = this.options;
    let timer: NodeJS.Timeout | undefined;
    this.unansweredPublishes += 1;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no reply from the host within ${limits.publishTimeoutMs} ms`)),
        limits.publishTimeoutMs,
      );
    });
    try {
      await Promise.race([this.connection.sendRequest('event.publish', event), timeout, this.inputGone]);
      outbox.recordPublished();
    } catch (error) {
      outbox.recordFailed();
      logger.warn(`event.publish of ${event.type} failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      this.unansweredPublishes -= 1;
      clearTimeout(timer);
    }
  }

  private handleNotification(method: string, params: unknown): void {
    const { refusals, logger } = this.options;
    if (method !== 'event.received') {
      refusals.count('rpc', 'unknown_notification');
      logger.warn(`ignored unknown notification "${method}"`);
      return;
    }
    try {
      this.options.app.onHostEvent(parseHostEvent(params));
    } catch (error) {
      refusals.count('rpc', 'invalid_notification');
      logger.warn(`ignored event.received: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private onInputClosed(): void {
    this.markInputGone(new Error('the host closed stdin before replying'));
    this.stopWhenDrained('the host closed stdin');
  }

  /**
   * Ends the session once every request received so far is answered (the
   * host closed stdin, or a signal asked us to stop), bounded by the
   * shutdown deadline in case a request never completes.
   */
  stopWhenDrained(reason: string): void {
    if (this.stopReason !== null) return;
    this.stopReason = reason;
    setTimeout(() => this.beginShutdown(reason), this.options.limits.shutdownDeadlineMs).unref();
    this.shutdownIfDrained();
  }

  private shutdownIfDrained(): void {
    if (this.stopReason !== null && this.requestsAnswered >= this.reader.requestsDelivered) {
      this.beginShutdown(this.stopReason);
    }
  }

  private beginShutdown(reason: string): void {
    if (this.state === 'closing') return;
    this.state = 'closing';
    this.options.logger.info(`shutting down: ${reason}`);
    // Runs after the current answer (if any) has been handed to the writer.
    setImmediate(() => void this.finishShutdown());
  }

  private async finishShutdown(): Promise<void> {
    const { app, logger, limits } = this.options;
    const deadline = setTimeout(() => {
      logger.warn(`clean-up did not finish within ${limits.shutdownDeadlineMs} ms; exiting anyway`);
      this.exit(0);
    }, limits.shutdownDeadlineMs);
    try {
      await this.writer.idle();
      await app.close();
    } catch (error) {
      logger.error(`clean-up failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      clearTimeout(deadline);
      this.exit(0);
    }
  }

  private exit(code: number): void {
    if (this.exiting) return;
    this.exiting = true;
    this.options.exit(code);
  }

  private toResponseError(method: string, error: unknown): ResponseError<{ error: string; details?: unknown }> {
    const p2pError =
      error instanceof P2pError
        ? error
        : new P2pError('INTERNAL_ERROR', `${method} failed unexpectedly: ${error instanceof Error ? error.message : String(error)}`);
    if (method !== REJECTED_LINE_METHOD) this.options.refusals.count('rpc', p2pError.errorName.toLowerCase());
    if (p2pError.errorName === 'INTERNAL_ERROR') this.options.logger.error(p2pError.message);
    const error_ = p2pError.errorName.toLowerCase();
    const data = p2pError.details === undefined ? { error: error_ } : { error: error_, details: p2pError.details };
    // Nexus hands a plugin only the message text (as HTTP 500 details), never
    // the code or data: the text starts with the code name so a plugin can
    // still tell its own mistake from a failure inside p2p-comm. A message
    // quoting refused input could hold an unpaired surrogate, which Nexus's
    // JSON parser refuses: it is replaced, so the answer itself is readable.
    return new ResponseError(p2pError.code, `${error_}: ${p2pError.message}`.toWellFormed(), data);
  }
}
