import { mkdirSync, statSync } from 'node:fs';
import { resolveDataDir } from './config';
import { P2pError } from './errors';
import type { EventOutbox } from './events/outbox';
import type { ExecuteParams, ExtensionApp, HostEvent, InitializeParams, InitializeResult, OperationOutcome } from './host/protocol';
import type { Logger } from './log';
import { manifest } from './manifest';
import type { RefusalCounters } from './metrics/refusals';
import type { NodeContext } from './operations/context';
import { OperationRegistry } from './operations/registry';

export interface AppDependencies {
  logger: Logger;
  outbox: EventOutbox;
  refusals: RefusalCounters;
}

/** The p2p-comm node behind the host session: owns the data directory and runs operations. */
export class P2pCommApp implements ExtensionApp {
  private readonly operations = new OperationRegistry(manifest.operations);
  private node: NodeContext | null = null;
  private hostEvents = 0;

  constructor(private readonly deps: AppDependencies) {}

  async initialize(params: InitializeParams): Promise<InitializeResult> {
    if (params.extensionId !== undefined && params.extensionId !== manifest.id) {
      this.deps.logger.warn(`host calls this extension "${params.extensionId}"; its manifest id is "${manifest.id}"`);
    }
    const dataDir = openDataDir(params.dataDir);
    this.node = {
      version: manifest.version,
      dataDir,
      startedAt: new Date(),
      outbox: this.deps.outbox,
      refusals: this.deps.refusals,
      hostEventsReceived: () => this.hostEvents,
    };
    return { extension_id: manifest.id, version: manifest.version, data_dir: dataDir };
  }

  start(): void {
    this.deps.logger.info(`p2p-comm ${manifest.version} serving with data in ${this.node?.dataDir ?? '?'}`);
    this.deps.outbox.enqueue({ type: 'p2p.node.started', data: { version: manifest.version } });
  }

  async execute(params: ExecuteParams): Promise<OperationOutcome> {
    if (this.node === null) throw new P2pError('NOT_INITIALIZED', 'execute arrived before initialize; send initialize first');
    return this.operations.run(params.operation, params.input, this.node);
  }

  onHostEvent(event: HostEvent): void {
    this.hostEvents += 1;
    this.deps.logger.debug(`host event on subscription ${event.subscriptionId}: ${String(event.event['type'])}`);
  }

  async close(): Promise<void> {
    this.deps.logger.info('stopped');
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
    // 0700: keys and trust decisions live here.
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (!statSync(dataDir).isDirectory()) throw new Error('it is not a directory');
  } catch (error) {
    throw new P2pError('DATA_DIR_UNUSABLE', `cannot use data_dir ${dataDir}: ${(error as Error).message}`);
  }
  return dataDir;
}
