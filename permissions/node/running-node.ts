import { mkdirSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import manifestJson from '../../manifest.json';
import type { ExtensionManifest } from '../../extension/common/manifest';
import { publicKeyFromPeerId } from '../../extension/common/peer-id';
import { safetyNumber } from '../../extension/common/safety-number';
import { AuditLog } from '../gate/audit-log';
import { CallFacts, ownCurrentKey, type DiscoveredPeer, type KnownPeer, type KnownRequest, type ListedGroupFacts, type ListedPeer, type OfferedFile, type OwnIdentity, type PeerDirectory } from '../gate/call-facts';
import { Gate } from '../gate/gate';
import { GrantStore } from '../gate/grant-store';
import { loadPolicy, PolicyPrompter } from '../gate/policy-prompter';
import { ReportingPrompter } from '../gate/reporting-prompter';
import { TerminalPrompter } from '../gate/terminal-prompter';
import type { PluginDeclaration, Prompter } from '../gate/types';
import { ExtensionSupervisor } from '../host/process-manager';
import { A2aServing, type A2aServingOptions } from '../a2a/a2a-serving';
import { EventHub } from '../http/event-hub';
import { grantPermissions } from '../http/event-permissions';
import { HostApi } from '../http/host-api';
import { MessageArrivals } from '../mcp/message-arrivals';
import type { McpEndpointOptions } from '../mcp/mcp-endpoint';
import { TokenStore } from '../http/tokens';
import { acquireLock, LockHeldError } from '../../extension/common/lock-file';
import { PluginDirectory } from '../plugins/plugin-directory';
import { FirstAnswerPrompter } from '../gate/first-answer-prompter';
import { PagePrompter } from '../page/page-prompter';
import { PageServer } from '../page/page-server';
import { pageLoginLink } from '../page/login-codes';
import { PageSessions } from '../page/page-sessions';
import { PeerActivity } from '../page/peer-activity';
import { printable } from '../terminal-text';
import { AnswerSignals } from '../a2a/answer-signals';
import { PeerCards } from '../a2a/peer-cards';
import type { PeerAgentOptions } from '../a2a/peer-agent-routes';
import { publishHostEndpoint } from './host-endpoint-file';
import { EventPump } from './event-pump';
import { HostNotices, type ProgressOutput } from './host-notices';

const manifest = manifestJson as ExtensionManifest;

export const HOST_LOCK_FILE_NAME = 'host.lock';

export interface NodeOptions {
  /** The host's own state: grants, audit log. */
  hostDir: string;
  /** The extension's data_dir. */
  dataDir: string;
  /** The extension binary; by default the one next to this program. */
  binary?: string;
  /** Plugins besides the files in `<hostDir>/plugins/`, which are followed as they change; a file wins over a declaration here of the same id. */
  plugins: PluginDeclaration[];
  /** Answers approvals from this policy file; without it, a person is asked on the terminal. */
  policyFile?: string;
  apiPort?: number;
  /** How long a dialog waits for an answer; the gate's default otherwise. */
  dialogTimeoutMs?: number;
  /** How often an idle host asks the extension for its queued events (0: never); see EventPump. */
  eventPollMs?: number;
  /** How often, and for how long after an A2A call or answer, the host asks for events while a peer's answer is awaited; see EventPump. */
  hurriedPoll?: { everyMs: number; windowMs: number };
  /** Serving the declared A2A agent: card refresh, forwarding limits and retries; their defaults otherwise. */
  a2aServing?: A2aServingOptions;
  /** The MCP endpoint's limits (sessions, p2p_get_messages); its defaults otherwise. */
  mcp?: McpEndpointOptions;
  /** The waits of the peers' local A2A agents (/a2a/<peer>/); their defaults otherwise. */
  a2aCalling?: PeerAgentOptions;
  env?: NodeJS.ProcessEnv;
  onStderrLine?: (line: string) => void;
  /** Told about every question the host asked and its answer. */
  onDecision?: (line: string) => void;
  /** Told, one line each, about pairing requests, pairings, revocations, key mismatches and restarts. */
  onNotice?: (line: string) => void;
  /** Where file transfer progress is rewritten in place (a terminal); without it, progress is a notice at each tenth. */
  onProgress?: ProgressOutput;
}

export interface RunningNode {
  apiUrl: string;
  /** A new login link to the person's web page: it works once, for a few minutes. */
  pageLink(): string;
  grants: GrantStore;
  audit: AuditLog;
  tokens: TokenStore;
  supervisor: ExtensionSupervisor;
  stop(): Promise<void>;
}

/** Thrown when another running host holds the host dir. */
export class HostDirInUseError extends Error {
  override name = 'HostDirInUseError';
}

/**
 * One p2p-comm node as a user runs it without Nexus: the extension under a
 * supervisor that spawns it as Nexus does, behind the gate and the Host API.
 * One host dir is run by one host at a time (host.lock): a second host on
 * the same dir would run a second node with the same identity.
 */
export async function startNode(options: NodeOptions): Promise<RunningNode> {
  const lock = lockHostDir(options.hostDir);
  try {
    return await startLocked(options, lock.release);
  } catch (error) {
    lock.release();
    throw error;
  }
}

function lockHostDir(hostDir: string): { release(): void } {
  mkdirSync(hostDir, { recursive: true, mode: 0o700 });
  try {
    return acquireLock(join(hostDir, HOST_LOCK_FILE_NAME));
  } catch (error) {
    if (!(error instanceof LockHeldError)) throw error;
    throw new HostDirInUseError(
      `another p2p-comm-host (pid ${error.holderPid}) is already running on host dir ${hostDir}; ` +
        'stop it first, or give this one its own --host-dir',
    );
  }
}

async function startLocked(options: NodeOptions, releaseLock: () => void): Promise<RunningNode> {
  const grants = GrantStore.open(options.hostDir);
  for (const plugin of options.plugins) grants.register(plugin);
  const audit = AuditLog.open(options.hostDir);
  // Set once the page exists; the dialogs it shows may change before that.
  let page: PageServer | undefined;
  const sessions = new PageSessions();
  const { prompter: basePrompter, pagePrompter } = prompters(options.policyFile, () => page, sessions);
  const prompter = options.onDecision === undefined ? basePrompter : new ReportingPrompter(basePrompter, options.onDecision);
  // The group notices name the group and its members, which only the extension's `groups` knows; asked once the extension runs.
  const notices = new HostNotices(options.onNotice ?? (() => undefined), options.onProgress, {
    groups: () => listedGroups((operation, input) => pump.around(() => supervisor.execute(operation, input))),
  });
  const activity = new PeerActivity();
  const events = new EventHub({ extensionId: manifest.id });
  const arrivals = new MessageArrivals();
  // Set once the gate exists; no plugin can declare an agent before the extension runs.
  let serving: A2aServing | undefined;
  const a2aSignals = new AnswerSignals();
  const peerCards = new PeerCards(() => pump.around(() => supervisor.execute('peers', {})));
  const supervisor = new ExtensionSupervisor({
    binary: options.binary ?? join(__dirname, 'p2p-comm'),
    extensionId: manifest.id,
    version: manifest.version,
    dataDir: options.dataDir,
    env: { ...process.env, ...options.env },
    onEvent: (event) => {
      events.publish(event);
      arrivals.event(event);
      a2aSignals.event(event);
      peerCards.event(event);
      notices.event(event);
      activity.event(event);
      serving?.event(event);
      if (event.type.startsWith('p2p.peer.') || event.type.startsWith('p2p.message.')) page?.changed();
    },
    onExit: (exit) => notices.exited(exit),
    onRestart: (pid) => {
      peerCards.forget();
      notices.restarted(pid);
    },
    ...(options.onStderrLine === undefined ? {} : { onStderrLine: options.onStderrLine }),
  });
  await supervisor.start();
  const pump = new EventPump(() => supervisor.execute('status', {}), options.eventPollMs, Date.now, options.hurriedPoll?.everyMs, options.hurriedPoll?.windowMs);
  const facts = new CallFacts(extensionDirectory(supervisor, options.dataDir));
  const tokens = new TokenStore();
  const gate = new Gate({
    extensionId: manifest.id,
    manifest,
    grants,
    prompter,
    audit,
    describeCall: (operation, input) => facts.describe(operation, input),
    ...(options.dialogTimeoutMs === undefined ? {} : { dialogTimeoutMs: options.dialogTimeoutMs }),
  });
  page = new PageServer({ manifest, call: (method, params) => pump.around(() => supervisor.call(method, params)), dialogs: pagePrompter, activity, sessions });
  const api = new HostApi(
    {
      plugins: new PluginDirectory(options.hostDir, { declared: options.plugins, onLoaded: (plugin) => grants.register(plugin) }),
      tokens,
      gate,
      execute: async (operation, input) => {
        const outcome = await pump.around(() => supervisor.execute(operation, input));
        activity.call(operation, input, outcome.result);
        return outcome;
      },
      extension: manifest,
      events,
      permissions: grantPermissions(grants),
      arrivals,
      page,
      a2a: { signals: a2aSignals, hurry: () => pump.hurry(), cards: peerCards },
    },
    {
      ...(options.apiPort === undefined ? {} : { port: options.apiPort }),
      ...(options.mcp === undefined ? {} : { mcp: options.mcp }),
      ...(options.a2aCalling === undefined ? {} : { a2a: options.a2aCalling }),
    },
  );
  const address = await api.listen();
  const apiUrl = `http://${address.host}:${address.port}`;
  let stopped: Promise<void> | undefined;
  const endpoint = publishHostEndpoint(options.hostDir, apiUrl, sessions.linkKey);
  pump.start();
  serving = new A2aServing(
    {
      hostDir: options.hostDir,
      declared: options.plugins,
      gate,
      execute: (operation, input) => pump.around(() => supervisor.execute(operation, input)),
      warn: (line) => process.stderr.write(`${printable(line)}\n`),
      onLoaded: (plugin) => grants.register(plugin),
    },
    options.a2aServing,
  );
  serving.start();
  return {
    apiUrl,
    pageLink: () => pageLoginLink(apiUrl, sessions.newLoginCode()),
    grants,
    audit,
    tokens,
    supervisor,
    // Once: a second stop (a signal during shutdown, a test's teardown) waits for the first.
    stop: () => {
      stopped ??= (async () => {
        endpoint.withdraw();
        pump.stop();
        await serving?.stop();
        await api.close();
        await supervisor.stop();
        releaseLock();
      })();
      return stopped;
    },
  };
}

/** A policy file answers every dialog; without one, the terminal and the web page ask together and the first answer counts. */
function prompters(policyFile: string | undefined, page: () => PageServer | undefined, sessions: PageSessions): { prompter: Prompter; pagePrompter: PagePrompter | undefined } {
  if (policyFile !== undefined) return { prompter: new PolicyPrompter(loadPolicy(policyFile)), pagePrompter: undefined };
  const pagePrompter = new PagePrompter(() => page()?.changed(), { loggedIn: () => sessions.anyLive() });
  const prompter = new FirstAnswerPrompter([
    { where: 'the terminal', prompter: new TerminalPrompter() },
    { where: 'the web page', prompter: pagePrompter },
  ]);
  return { prompter, pagePrompter };
}

/** The facts a dialog needs, asked of the extension itself (never through the gate: no plugin is calling). */
export function extensionDirectory(supervisor: Pick<ExtensionSupervisor, 'execute'>, dataDir: string): PeerDirectory {
  const data = async (operation: string, input: Record<string, unknown> = {}): Promise<Record<string, unknown>> => {
    const response = await supervisor.execute(operation, input);
    if (response.error !== undefined) throw new Error(`${operation} failed: ${response.error.message}`);
    const result = response.result as { data?: unknown } | undefined;
    const value = result?.data;
    if (typeof value !== 'object' || value === null) throw new Error(`${operation} answered without data`);
    return value as Record<string, unknown>;
  };
  return {
    safetyNumber: async (peer, peerKey) => {
      // A paired peer's as the extension computes it, from both current keys: a rotation on either side changes it.
      const paired = listed<{ peer: string; safety_number?: string }>((await data('peers'))['peers']).find((entry) => entry.peer === peer);
      if (paired?.safety_number !== undefined) return paired.safety_number;
      // Not paired: from this node's current key and the peer's (a rotated node's link names it), as `peers` will once paired.
      const ownKey = ownCurrentKey((await data('identity')) as unknown as OwnIdentity);
      return ownKey === null ? null : safetyNumber(ownKey, peerKey ?? publicKeyFromPeerId(peer));
    },
    incomingRequest: async (requestId) =>
      listed<KnownRequest & { request_id: string }>((await data('requests'))['incoming']).find((request) => request.request_id === requestId),
    pairedPeer: async (peer) => listed<KnownPeer & { peer: string }>((await data('peers'))['peers']).find((entry) => entry.peer === peer),
    discoveredPeer: async (peer) => {
      // Discovery may be off on this node (not_available): then nothing was heard.
      const response = await supervisor.execute('discover', {});
      const peers = (response.result as { data?: { peers?: unknown } } | undefined)?.data?.peers;
      return listed<DiscoveredPeer & { peer: string }>(peers).find((entry) => entry.peer === peer);
    },
    // Only open offers (at most P2P_COMM_FILE_MAX_OFFERS_PER_PEER): a peer's finished transfers, however many, cannot push the one asked about out of the page.
    offeredFile: async (peer, transferId) =>
      listed<OfferedFile & { transfer_id: string }>((await data('files', { peer, direction: 'incoming', state: 'offered' }))['transfers']).find(
        (entry) => entry.transfer_id === transferId,
      ),
    outgoingFileSize: async (relativePath) => {
      // Only for the dialog: the extension applies the real rules (no symlink, no way out of the folder) when it opens the file.
      if (relativePath.startsWith('/') || relativePath.split('/').includes('..')) return undefined;
      const stats = await lstat(join(dataDir, 'files', 'outgoing', relativePath)).catch(() => null);
      return stats?.isFile() === true ? stats.size : undefined;
    },
    ownIdentity: async () => (await data('identity')) as unknown as OwnIdentity,
    listedPeers: async () => listed<ListedPeer>((await data('peers'))['peers']),
    listedGroups: () => listedGroups((operation, input) => supervisor.execute(operation, input)),
  };
}

/** The extension's `groups`, for a dialog or a notice. */
async function listedGroups(execute: ExtensionSupervisor['execute']): Promise<ListedGroupFacts[]> {
  const response = await execute('groups', {});
  if (response.error !== undefined) throw new Error(`groups failed: ${response.error.message}`);
  return listed<ListedGroupFacts>((response.result as { data?: { groups?: unknown } } | undefined)?.data?.groups);
}

/** A list from the extension's output; the extension's own schema-checked operations are trusted for its shape. */
function listed<T>(value: unknown): T[] {
  return Array.isArray(value) ? (value as T[]) : [];
}
