import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { useNativeAddonDirectory } from './common/native-addons';
import type { A2aConfig, DiscoveryConfig, FilesConfig, GroupsConfig, MessagingConfig, NetworkConfig } from './config';
import { resolveDataDir } from './config';
import type { HeldLock } from './common/lock-file';
import { lockDataDir } from './data-dir-lock';
import { createBonjourResponder } from './discovery/bonjour-responder';
import { MdnsDiscovery } from './discovery/mdns-discovery';
import { P2pError } from './common/errors';
import type { EventOutbox } from './events/outbox';
import type { ExecuteParams, ExtensionApp, HostEvent, InitializeParams, InitializeResult, OperationOutcome } from './host/protocol';
import type { Logger } from './log';
import { manifest } from './common/manifest';
import { assembleNode } from './node-parts';
import type { RefusalCounters } from './metrics/refusals';
import type { NodeContext } from './operations/context';
import { OperationRegistry } from './operations/registry';
import { ResourceRegistry } from './operations/resources/resource-registry';
import { DHT_ON_NOTICE } from './operations/identity';
import { fingerprintOf } from './common/peer-id';

export interface AppDependencies {
  logger: Logger;
  outbox: EventOutbox;
  refusals: RefusalCounters;
  networkConfig: NetworkConfig;
  messagingConfig: MessagingConfig;
  discoveryConfig: DiscoveryConfig;
  a2aConfig: A2aConfig;
  filesConfig?: FilesConfig | undefined;
  groupsConfig?: GroupsConfig | undefined;
}

/** The p2p-comm node behind the host session: opens its state, runs the network, runs operations. */
export class P2pCommApp implements ExtensionApp {
  private readonly operations = new OperationRegistry(manifest.operations);
  private readonly resources = new ResourceRegistry(manifest.resources);
  private node: NodeContext | null = null;
  private dataDirLock: HeldLock | null = null;
  private hostEvents = 0;

  constructor(private readonly deps: AppDependencies) {}

  /**
   * Opens every state file before answering, so that a corrupt trust store
   * or an exposed key stops the start with the reason instead of running
   * with less than the user approved. All of it is small local reads.
   */
  async initialize(params: InitializeParams): Promise<InitializeResult> {
    if (params.extensionId !== undefined && params.extensionId !== manifest.id) {
      this.deps.logger.warn(`host calls this extension "${params.extensionId}"; its manifest id is "${manifest.id}"`);
    }
    const dataDir = openDataDir(params.dataDir);
    // The DHT's native addons, when this is a bundle that carries them, are written and checked under data_dir.
    useNativeAddonDirectory(join(dataDir, 'native'));
    // Before any state file is opened: another process running this data_dir would be the same node twice.
    this.dataDirLock = lockDataDir(dataDir);
    try {
      this.node = this.openNode(dataDir);
    } catch (error) {
      this.releaseDataDir();
      throw error;
    }
    return { extension_id: manifest.id, version: manifest.version, data_dir: dataDir };
  }

  private openNode(dataDir: string): NodeContext {
    const { outbox, refusals, logger, networkConfig, messagingConfig, discoveryConfig, a2aConfig } = this.deps;
    // Discovery needs the node's identity, and the network asks discovery for addresses: bound late.
    let discovery: MdnsDiscovery | null = null;
    const parts = assembleNode({
      dataDir,
      events: outbox,
      refusals,
      logger,
      networkConfig,
      messagingConfig,
      a2aConfig,
      filesConfig: this.deps.filesConfig,
      groupsConfig: this.deps.groupsConfig,
      software: `p2p-comm/${manifest.version}`,
      discoveredAddress: (peerId) => discovery?.find(peerId)?.address ?? null,
    });
    discovery = new MdnsDiscovery({
      config: discoveryConfig,
      // The announcement names the root's fingerprint, the one its peer id names, whatever key the node holds now (protocol.md §19).
      identity: { peerId: parts.identity.peerId, fingerprint: fingerprintOf(parts.identity.rootKey) },
      displayName: () => parts.profile.displayName,
      logger,
      createResponder: createBonjourResponder,
    });
    return {
      version: manifest.version,
      dataDir,
      startedAt: new Date(),
      outbox,
      refusals,
      hostEventsReceived: () => this.hostEvents,
      ...parts,
      networkConfig,
      discovery,
    };
  }

  start(): void {
    const node = this.node;
    if (node === null) return;
    this.deps.logger.info(`p2p-comm ${manifest.version} is ${node.identity.peerId} (${node.identity.fingerprint}), data in ${node.dataDir}`);
    if (node.profile.namedAtThisStart) {
      this.deps.logger.info(
        `peers see this node as "${node.profile.displayName}", a name chosen at first start; ` +
          'set another with the set_display_name operation (input {"display_name": "..."})',
      );
    }
    if (node.networkConfig.dht.mode === 'on') this.deps.logger.info(DHT_ON_NOTICE);
    this.deps.outbox.enqueue({ type: 'p2p.node.started', data: { version: manifest.version, peer: node.identity.peerId } });
    node.messenger.start();
    node.a2a.start();
    node.files.start();
    node.groups.start();
    node.network.start().then(
      () => this.startDiscovery(node),
      (error: unknown) => this.deps.logger.error(`network start failed: ${(error as Error).message}`),
    );
  }

  /** Discovery announces the listening port, so it starts once the node listens. */
  private startDiscovery(node: NodeContext): void {
    try {
      node.discovery.start(node.network.listeningPort());
    } catch (error) {
      this.deps.logger.error(`LAN discovery did not start: ${(error as Error).message}`);
    }
  }

  async execute(params: ExecuteParams): Promise<OperationOutcome> {
    if (this.node === null) throw new P2pError('NOT_INITIALIZED', 'execute arrived before initialize; send initialize first');
    return this.operations.run(params.operation, params.input, this.node);
  }

  async resource(verb: string, params: unknown): Promise<OperationOutcome> {
    if (this.node === null) throw new P2pError('NOT_INITIALIZED', `resources.${verb} arrived before initialize; send initialize first`);
    return this.resources.serve(verb, params, this.node);
  }

  onHostEvent(event: HostEvent): void {
    this.hostEvents += 1;
    this.deps.logger.debug(`host event on subscription ${event.subscriptionId}: ${String(event.event['type'])}`);
  }

  async close(): Promise<void> {
    const node = this.node;
    if (node !== null) {
      // First, while the node still answers: its goodbye tells the LAN it is gone.
      await node.discovery.close();
      node.messenger.close();
      await node.network.close();
      await node.a2a.close();
      await node.files.close();
      await node.groups.close();
      await Promise.all([node.outboxStore.close(), node.inbox.close()]);
      node.trust.close();
    }
    this.releaseDataDir();
    this.deps.logger.info('stopped');
  }

  /** Lets another process run the data_dir; also called at exit, for the ways out that skip close. */
  releaseDataDir(): void {
    this.dataDirLock?.release();
    this.dataDirLock = null;
  }
}

function openDataDir(requested: string | undefined): string {
  let dataDir: string;
  try {
    dataDir = resolveDataDir(requested);
  } catch (error) {
    throw new P2pError('INVALID_PARAMS', (error as Error).message);
  }
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (!statSync(dataDir).isDirectory()) throw new Error('it is not a directory');
    // Nexus creates the directory with default permissions; keys and trust decisions live here.
    chmodSync(dataDir, 0o700);
  } catch (error) {
    throw new P2pError('DATA_DIR_UNUSABLE', `cannot use data_dir ${dataDir}: ${(error as Error).message}`);
  }
  return dataDir;
}
