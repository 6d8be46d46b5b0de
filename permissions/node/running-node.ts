import { join } from 'node:path';
import manifestJson from '../../manifest.json';
import type { ExtensionManifest } from '../../extension/common/manifest';
import { AuditLog } from '../gate/audit-log';
import { Gate } from '../gate/gate';
import { GrantStore } from '../gate/grant-store';
import { loadPolicy, PolicyPrompter } from '../gate/policy-prompter';
import { ReportingPrompter } from '../gate/reporting-prompter';
import { TerminalPrompter } from '../gate/terminal-prompter';
import type { PluginDeclaration, Prompter } from '../gate/types';
import { ExtensionSupervisor } from '../host/process-manager';
import { EventHub } from '../http/event-hub';
import { grantPermissions } from '../http/event-permissions';
import { HostApi } from '../http/host-api';
import { TokenStore } from '../http/tokens';
import { PluginDirectory } from '../plugins/plugin-directory';

const manifest = manifestJson as ExtensionManifest;

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
  env?: NodeJS.ProcessEnv;
  onStderrLine?: (line: string) => void;
  /** Told about every question the host asked and its answer. */
  onDecision?: (line: string) => void;
}

export interface RunningNode {
  apiUrl: string;
  grants: GrantStore;
  audit: AuditLog;
  tokens: TokenStore;
  supervisor: ExtensionSupervisor;
  stop(): Promise<void>;
}

/**
 * One p2p-comm node as a user runs it without Nexus: the extension under a
 * supervisor that spawns it as Nexus does, behind the gate and the Host API.
 */
export async function startNode(options: NodeOptions): Promise<RunningNode> {
  const grants = GrantStore.open(options.hostDir);
  for (const plugin of options.plugins) grants.register(plugin);
  const audit = AuditLog.open(options.hostDir);
  const basePrompter: Prompter = options.policyFile === undefined ? new TerminalPrompter() : new PolicyPrompter(loadPolicy(options.policyFile));
  const prompter = options.onDecision === undefined ? basePrompter : new ReportingPrompter(basePrompter, options.onDecision);
  const events = new EventHub({ extensionId: manifest.id });
  const supervisor = new ExtensionSupervisor({
    binary: options.binary ?? join(__dirname, 'p2p-comm'),
    extensionId: manifest.id,
    version: manifest.version,
    dataDir: options.dataDir,
    env: { ...process.env, ...options.env },
    onEvent: (event) => events.publish(event),
    ...(options.onStderrLine === undefined ? {} : { onStderrLine: options.onStderrLine }),
  });
  await supervisor.start();
  const tokens = new TokenStore();
  const api = new HostApi(
    {
      plugins: new PluginDirectory(options.hostDir, { declared: options.plugins, onLoaded: (plugin) => grants.register(plugin) }),
      tokens,
      gate: new Gate({ extensionId: manifest.id, manifest, grants, prompter, audit }),
      execute: (operation, input) => supervisor.execute(operation, input),
      extension: manifest,
      events,
      permissions: grantPermissions(grants),
    },
    options.apiPort === undefined ? {} : { port: options.apiPort },
  );
  const address = await api.listen();
  return {
    apiUrl: `http://${address.host}:${address.port}`,
    grants,
    audit,
    tokens,
    supervisor,
    stop: async () => {
      await api.close();
      await supervisor.stop();
    },
  };
}
