import type { ServerResponse } from 'node:http';
import type { ExtensionEvent } from '../host/process-manager';

/**
 * Fans the events the extension publishes out to the plugins' Server-Sent
 * Events streams, wrapped as CloudEvents the way Nexus's event bus does.
 * Nothing is buffered for later: a plugin sees the events published while
 * it is subscribed, and of those only the ones its subscriber accepts at
 * the moment of delivery.
 */

export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject?: string;
  time: string;
  datacontenttype: 'application/json';
  data: unknown;
}

/** One plugin's stream. */
export interface Subscriber {
  plugin: string;
  /** Asked for every event as it is published. */
  accepts(event: CloudEvent): boolean;
}

export type SubscribeResult = 'subscribed' | 'hub_full' | 'plugin_full';

export interface EventHubOptions {
  /** The events' source is `nexus://extension/<id>`, as Nexus names an extension's events. */
  extensionId: string;
  maxSubscribers?: number;
  /** So one plugin cannot take every place of `maxSubscribers`. */
  maxSubscribersPerPlugin?: number;
  keepAliveMs?: number;
  /** A subscriber that lets this much output pile up unread is dropped rather than buffered without end. */
  maxBufferedBytes?: number;
}

export const DEFAULT_MAX_SUBSCRIBERS = 64;
export const DEFAULT_MAX_SUBSCRIBERS_PER_PLUGIN = 4;
export const DEFAULT_KEEP_ALIVE_MS = 15_000;
export const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

export class EventHub {
  private readonly subscribers = new Map<ServerResponse, Subscriber>();
  private keepAlive: NodeJS.Timeout | undefined;
  private readonly maxSubscribers: number;
  readonly maxSubscribersPerPlugin: number;
  private readonly keepAliveMs: number;
  private readonly maxBufferedBytes: number;
  private readonly source: string;

  constructor(options: EventHubOptions) {
    this.source = `nexus://extension/${options.extensionId}`;
    this.maxSubscribers = options.maxSubscribers ?? DEFAULT_MAX_SUBSCRIBERS;
    this.maxSubscribersPerPlugin = options.maxSubscribersPerPlugin ?? DEFAULT_MAX_SUBSCRIBERS_PER_PLUGIN;
    this.keepAliveMs = options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS;
    this.maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Starts an event stream on the response; when the hub or the plugin's share of it is full, writes nothing. */
  subscribe(response: ServerResponse, subscriber: Subscriber): SubscribeResult {
    if (this.subscribers.size >= this.maxSubscribers) return 'hub_full';
    const ofPlugin = [...this.subscribers.values()].filter((other) => other.plugin === subscriber.plugin).length;
    if (ofPlugin >= this.maxSubscribersPerPlugin) return 'plugin_full';
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    response.flushHeaders();
    this.subscribers.set(response, subscriber);
    response.on('close', () => this.remove(response));
    this.keepAlive ??= setInterval(() => this.broadcast(': keep-alive\n\n', () => true), this.keepAliveMs).unref();
    return 'subscribed';
  }

  publish(event: ExtensionEvent): CloudEvent {
    // Both become SSE fields: a line break would let the sender forge fields or events.
    if (/[\r\n]/.test(event.type) || /[\r\n]/.test(event.id)) throw new TypeError('an event id and type must be single lines');
    const cloudEvent: CloudEvent = {
      specversion: '1.0',
      id: event.id,
      source: this.source,
      type: event.type,
      ...(event.subject === undefined ? {} : { subject: event.subject }),
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      data: event.data,
    };
    // The event name is the type, as Nexus's stream sends it, so a plugin can listen for one type.
    const frame = `id: ${cloudEvent.id}\nevent: ${cloudEvent.type}\ndata: ${JSON.stringify(cloudEvent)}\n\n`;
    this.broadcast(frame, (subscriber) => subscriber.accepts(cloudEvent));
    return cloudEvent;
  }

  private broadcast(text: string, wanted: (subscriber: Subscriber) => boolean): void {
    for (const [response, subscriber] of this.subscribers) {
      if (response.writableLength > this.maxBufferedBytes) {
        response.destroy();
        continue;
      }
      if (wanted(subscriber)) response.write(text);
    }
  }

  private remove(response: ServerResponse): void {
    this.subscribers.delete(response);
    if (this.subscribers.size === 0) {
      clearInterval(this.keepAlive);
      this.keepAlive = undefined;
    }
  }
}
