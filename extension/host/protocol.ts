/** The Nexus extension protocol's messages, as p2p-comm accepts and answers them. */

export interface InitializeParams {
  extensionId: string | undefined;
  version: string | undefined;
  dataDir: string | undefined;
}

export interface InitializeResult {
  extension_id: string;
  version: string;
  data_dir: string;
}

export interface ExecuteParams {
  operation: string;
  input: Record<string, unknown>;
}

/** What an operation hands back; sent to the host as `{success: true, data, message}`. */
export interface OperationOutcome {
  data: unknown;
  message: string | null;
}

export interface ExecuteResult extends OperationOutcome {
  success: true;
}

export interface HostEvent {
  subscriptionId: string;
  event: Record<string, unknown>;
}

/** What the host session needs from the rest of the extension. */
export interface ExtensionApp {
  /** Quick, synchronous-in-spirit setup: the answer to initialize waits for it. */
  initialize(params: InitializeParams): Promise<InitializeResult>;
  /** Slow start-up work, begun only after the initialize answer is written. */
  start(): void;
  execute(params: ExecuteParams): Promise<OperationOutcome>;
  /** Nexus's `resources.<verb>` for a resource type the manifest declares; params unchecked. */
  resource(verb: string, params: unknown): Promise<OperationOutcome>;
  onHostEvent(event: HostEvent): void;
  /** Stops everything and flushes state; bounded by the caller's deadline. */
  close(): Promise<void>;
}
