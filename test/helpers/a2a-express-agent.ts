import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AGENT_CARD_PATH, type AgentCard, type Message, type Part, Role, type Task, TaskState } from '@a2a-js/sdk';
import { AgentEvent, type AgentExecutor, DefaultRequestHandler, type ExecutionEventBus, InMemoryTaskStore, type RequestContext, ServerCallContext } from '@a2a-js/sdk/server';
import { agentCardHandler, jsonRpcHandler, UserBuilder } from '@a2a-js/sdk/server/express';
import express from 'express';
import type { Teardown } from './teardown';

/**
 * An A2A agent written the way the A2A SDK's README and samples write one:
 * express, `agentCardHandler`, `jsonRpcHandler` with no authentication
 * (an agent written from the SDK's docs knows nothing of p2p-comm's
 * forward token), `DefaultRequestHandler`, `InMemoryTaskStore` and an
 * `AgentExecutor`. Its card names its JSON-RPC endpoint at `localhost`
 * under a path of its own, as a sample's card does.
 *
 * The executor plans a meeting. "plan": SUBMITTED, WORKING, then
 * INPUT_REQUIRED asking which day; the reply in the same task: an artifact,
 * then COMPLETED. "slow": SUBMITTED, WORKING, then it waits until the test
 * calls `releaseSlow()` before it completes. A cancel ends a task CANCELED.
 */

export const PLANNER_NAME = 'Meeting planner (express)';
export const PLANNER_SKILL = { id: 'plan-meeting', name: 'Plan a meeting', description: 'Asks which day suits you, then proposes a plan.', tags: ['calendar'], examples: ['plan our review'], inputModes: [], outputModes: [], securityRequirements: [] };
export const JSONRPC_PATH = '/a2a/jsonrpc';

export function textPart(text: string): Part {
  return { content: { $case: 'text', value: text }, metadata: undefined, filename: '', mediaType: 'text/plain' };
}

export function textOf(message: Message | undefined): string {
  return (message?.parts ?? []).map((part) => (part.content?.$case === 'text' ? part.content.value : '')).join('');
}

function status(state: TaskState, message?: Message) {
  return { state, message, timestamp: new Date().toISOString() };
}

function agentMessage(taskId: string, contextId: string, text: string): Message {
  return { messageId: randomUUID(), contextId, taskId, role: Role.ROLE_AGENT, parts: [textPart(text)], metadata: undefined, extensions: [], referenceTaskIds: [] };
}

export class PlannerExecutor implements AgentExecutor {
  /** Every message that reached execute, by its messageId: a request run twice shows here. */
  readonly executed: string[] = [];
  private readonly slow = new Map<string, () => void>();
  private readonly canceled = new Set<string>();
  private slowArrived: (() => void) | undefined;

  /** Resolves once a "slow" task waits for `releaseSlow()`. */
  slowTaskHeld(): Promise<void> {
    if (this.slow.size > 0) return Promise.resolve();
    return new Promise((resolve) => (this.slowArrived = resolve));
  }

  /** Lets every waiting "slow" task finish. */
  releaseSlow(): void {
    const waiting = [...this.slow.values()];
    this.slow.clear();
    for (const go of waiting) go();
  }

  execute = async (context: RequestContext, bus: ExecutionEventBus): Promise<void> => {
    const { taskId, contextId, userMessage } = context;
    this.executed.push(userMessage.messageId);
    const said = textOf(userMessage);
    // Every turn opens with the task, a follow-up too (AgentExecutor's contract).
    const task: Task = context.task ?? { id: taskId, contextId, status: status(TaskState.TASK_STATE_SUBMITTED), artifacts: [], history: [userMessage], metadata: undefined };
    bus.publish(AgentEvent.task(task));
    bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: status(TaskState.TASK_STATE_WORKING), metadata: undefined }));
    if (context.task === undefined && said.includes('plan')) {
      const question = agentMessage(taskId, contextId, 'Which day suits you?');
      bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: status(TaskState.TASK_STATE_INPUT_REQUIRED, question), metadata: undefined }));
      bus.finished();
      return;
    }
    if (said.includes('slow')) {
      await new Promise<void>((resolve) => {
        this.slow.set(taskId, resolve);
        this.slowArrived?.();
      });
      if (this.canceled.has(taskId)) return;
    }
    const day = context.task === undefined ? 'Tuesday' : said;
    const artifact = { artifactId: `plan-${taskId}`, name: 'plan', description: '', parts: [textPart(`Meet on ${day}.`)], metadata: undefined, extensions: [] };
    bus.publish(AgentEvent.artifactUpdate({ taskId, contextId, artifact, append: false, lastChunk: true, metadata: undefined }));
    bus.publish(AgentEvent.statusUpdate({ taskId, contextId, status: status(TaskState.TASK_STATE_COMPLETED), metadata: undefined }));
    bus.finished();
  };

  cancelTask = async (taskId: string, bus: ExecutionEventBus): Promise<void> => {
    this.canceled.add(taskId);
    this.slow.get(taskId)?.();
    this.slow.delete(taskId);
    bus.publish(AgentEvent.statusUpdate({ taskId, contextId: '', status: status(TaskState.TASK_STATE_CANCELED), metadata: undefined }));
    bus.finished();
  };
}

export interface ExpressAgent {
  /** What a plugin file declares as the agent's url: the server's root, not its JSON-RPC path. */
  url: string;
  card: AgentCard;
  executor: PlannerExecutor;
  /** The tasks the agent holds in a context (the SDK scopes them to the user; here everyone is the one unauthenticated user). */
  tasksIn(contextId: string): Promise<Task[]>;
}

/** Starts the agent on 127.0.0.1, stopped at teardown. */
export async function startExpressAgent(t: Teardown): Promise<ExpressAgent> {
  const app = express();
  const server: Server = createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve()).closeAllConnections()));
  const { port } = server.address() as AddressInfo;

  const card = {
    name: PLANNER_NAME,
    description: 'Plans meetings between people.',
    version: '1.0.0',
    documentationUrl: '',
    iconUrl: '',
    supportedInterfaces: [{ url: `http://localhost:${port}${JSONRPC_PATH}`, protocolBinding: 'JSONRPC', protocolVersion: '1.0', tenant: '' }],
    capabilities: { streaming: true, pushNotifications: false, extensions: [] },
    securitySchemes: {},
    securityRequirements: [],
    defaultInputModes: ['text/plain'],
    defaultOutputModes: ['text/plain'],
    skills: [PLANNER_SKILL],
    signatures: [],
  } as unknown as AgentCard;
  const executor = new PlannerExecutor();
  const taskStore = new InMemoryTaskStore();
  const requestHandler = new DefaultRequestHandler(card, taskStore, executor);
  app.use(`/${AGENT_CARD_PATH}`, agentCardHandler({ agentCardProvider: requestHandler }));
  app.use(JSONRPC_PATH, jsonRpcHandler({ requestHandler, userBuilder: UserBuilder.noAuthentication }));

  const asAnyone = new ServerCallContext({ user: await UserBuilder.noAuthentication(), requestedVersion: '1.0' });
  return {
    url: `http://127.0.0.1:${port}/`,
    card,
    executor,
    tasksIn: async (contextId) => (await taskStore.list({ contextId, pageSize: 100 } as Parameters<InMemoryTaskStore['list']>[0], asAnyone)).tasks,
  };
}
