import { type AgentCard, type Message, type Part, Role, type Task, TaskState } from '@a2a-js/sdk';
import {
  AgentEvent,
  type AgentExecutor,
  DefaultRequestHandler,
  type ExecutionEventBus,
  InMemoryTaskStore,
  JsonRpcTransportHandler,
  type RequestContext,
  ServerCallContext,
  type TaskStore,
} from '@a2a-js/sdk/server';
import { eventually, type TestNode } from './node';

/**
 * An A2A agent built with the A2A SDK that serves a p2p-comm node in pull
 * mode, as a Nexus plugin does: it takes requests with a2a_serve, hands
 * each to the SDK's JsonRpcTransportHandler as the calling peer (owner
 * scoping keeps peers apart), and returns every answer with a2a_respond.
 *
 * The executor plans a meeting: SUBMITTED, WORKING, then an artifact and
 * COMPLETED. A message containing "which day" asks back (INPUT_REQUIRED);
 * a message containing "hold" waits for `release()` before it finishes.
 */
export const MEETING_CARD = {
  name: 'Meeting planner',
  description: 'Finds a time to meet.',
  version: '1.0.0',
  capabilities: { streaming: true },
  defaultInputModes: ['text/plain'],
  defaultOutputModes: ['text/plain'],
  skills: [{ id: 'plan', name: 'Plan a meeting', description: 'Proposes a day.', tags: ['calendar'] }],
};

export function textPart(text: string): Part {
  return { content: { $case: 'text', value: text }, metadata: undefined, filename: '', mediaType: 'text/plain' };
}

function textOf(message: Message): string {
  return message.parts.map((part) => (part.content?.$case === 'text' ? part.content.value : '')).join('');
}

function status(state: TaskState, message?: Message) {
  return { state, message, timestamp: new Date().toISOString() };
}

export class MeetingExecutor implements AgentExecutor {
  private held: (() => void)[] = [];
  /** Requests that reached execute, for the test to count. */
  executed = 0;

  release(): void {
    for (const go of this.held.splice(0)) go();
  }

  get holding(): number {
    return this.held.length;
  }

  execute = async (context: RequestContext, bus: ExecutionEventBus): Promise<void> => {
    this.executed += 1;
    const { taskId, contextId } = context;
    const said = textOf(context.userMessage);
    if (context.task === undefined) {
      const task: Task = { id: taskId, contextId, status: status(TaskState.TASK_STATE_SUBMITTED), artifacts: [], history: [context.userMessage], metadata: undefined };
      bus.publish(AgentEvent.task(task));
    }
    bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: status(TaskState.TASK_STATE_WORKING), metadata: undefined }));
    if (said.includes('which day') && context.task === undefined) {
      const question: Message = { messageId: `q-${taskId}`, contextId, taskId, role: Role.ROLE_AGENT, parts: [textPart('Which day suits you?')], metadata: undefined, extensions: [], referenceTaskIds: [] };
      bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: status(TaskState.TASK_STATE_INPUT_REQUIRED, question), metadata: undefined }));
      bus.finished();
      return;
    }
    if (said.includes('hold')) await new Promise<void>((resolve) => this.held.push(resolve));
    const artifact = { artifactId: `plan-${taskId}`, name: 'plan', description: '', parts: [textPart(`Meet on ${said.includes('Friday') ? 'Friday' : 'Tuesday'}.`)], metadata: undefined, extensions: [] };
    bus.publish(AgentEvent.artifactUpdate({ taskId, contextId, artifact, append: false, lastChunk: true, metadata: undefined }));
    bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: status(TaskState.TASK_STATE_COMPLETED), metadata: undefined }));
    bus.finished();
  };

  cancelTask = async (taskId: string, bus: ExecutionEventBus): Promise<void> => {
    bus.publish(AgentEvent.statusUpdate({ taskId, contextId: '', status: status(TaskState.TASK_STATE_CANCELED), metadata: undefined }));
    bus.finished();
  };
}

interface ServedRequest {
  request_id: string;
  method: string;
  params: Record<string, unknown>;
  claimed: boolean;
}

/** One SDK server pulling from one node; `taskStore` may outlive it, as a plugin's disk store outlives a restart. */
export class PullAgent {
  readonly executor = new MeetingExecutor();
  private readonly handler: JsonRpcTransportHandler;
  private running = true;
  private loop: Promise<void> | undefined;
  /** Requests the agent could not serve, with why: a test that waits in vain shows them. */
  readonly failures: string[] = [];
  /** Answers returned per request id, for the test to look at. */
  readonly answered = new Map<string, number>();

  constructor(
    /** A node spawned directly, or a plugin of a reference host answering the same way (test/e2e/a2a-calling.test.ts). */
    private readonly node: Pick<TestNode, 'call' | 'attempt'>,
    private readonly peer: string,
    readonly taskStore: TaskStore = new InMemoryTaskStore(),
  ) {
    const card = { ...MEETING_CARD, supportedInterfaces: [{ url: 'http://127.0.0.1/', protocolBinding: 'JSONRPC', protocolVersion: '1.0', tenant: '' }] } as unknown as AgentCard;
    this.handler = new JsonRpcTransportHandler(new DefaultRequestHandler(card, taskStore, this.executor));
  }

  /** Serves until stop(); each request is served in the background so a held one does not block the others. */
  start(): void {
    this.loop = (async () => {
      const inWork = new Set<string>();
      while (this.running) {
        // A node that stopped under it ends the loop, as a plugin's would.
        const served = await this.node.attempt('a2a_serve', { peer: this.peer, wait_ms: 200 }).catch(() => null);
        if (served === null || served.error !== undefined) break;
        const requests = ((served.result as { data: { requests: ServedRequest[] } }).data.requests ?? []).filter((request) => !inWork.has(request.request_id));
        for (const request of requests) {
          inWork.add(request.request_id);
          void this.serve(request).catch((error: unknown) => this.failures.push(`${request.method} ${request.request_id}: ${(error as Error).message}`));
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.executor.release();
    await this.loop;
  }

  /** Resolves once the executor holds a request: the agent is mid-task. */
  async holdingOne(): Promise<void> {
    await eventually(async () => this.executor.holding > 0, 'the agent mid-task');
  }

  private async serve(request: ServedRequest): Promise<void> {
    await this.node.call('a2a_respond', { peer: this.peer, request_id: request.request_id, claim: true });
    const context = new ServerCallContext({ user: { isAuthenticated: true, userName: this.peer }, requestedVersion: '1.0' });
    const answer = await this.handler.handle({ jsonrpc: '2.0', id: 1, method: request.method, params: request.params }, context);
    const respond = async (seq: number, body: Record<string, unknown>): Promise<void> => {
      if (!this.running) return;
      await this.node.call('a2a_respond', { peer: this.peer, request_id: request.request_id, seq, ...body });
      this.answered.set(request.request_id, seq + 1);
    };
    if (!(Symbol.asyncIterator in answer)) {
      const single = answer as { result?: Record<string, unknown>; error?: Record<string, unknown> };
      await respond(0, single.error !== undefined ? { error: single.error, end: true } : { result: single.result, end: true });
      return;
    }
    let seq = 0;
    for await (const item of answer as AsyncGenerator<{ result?: Record<string, unknown>; error?: Record<string, unknown> }>) {
      if (item.error !== undefined) {
        await respond(seq, { error: item.error, end: true });
        return;
      }
      await respond(seq, { event: item.result });
      seq += 1;
    }
    await respond(seq, { end: true });
  }
}
