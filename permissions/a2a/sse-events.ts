/**
 * Server-sent events as an A2A agent writes them (`data: <json>` lines,
 * `event: error` before an error's data, a blank line after each event),
 * read one at a time from a fetch body. Pulled, not pushed: the forwarder
 * records each answer before it asks for the next, so a fast agent waits
 * for the peer's node instead of filling the host's memory.
 */
export interface SseEvent {
  /** The `event:` field; "message" when absent, as the SSE standard says. */
  event: string;
  data: string;
}

/** Thrown when one event is longer than the reader takes. */
export class SseEventTooLarge extends Error {
  override name = 'SseEventTooLarge';
}

export async function* sseEvents(body: ReadableStream<Uint8Array>, maxEventChars: number): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffered = '';
  let scanned = 0;
  let event = '';
  let data: string[] = [];
  let dataChars = 0;
  const take = (line: string): SseEvent | undefined => {
    if (line === '') {
      const ready = data.length === 0 ? undefined : { event: event === '' ? 'message' : event, data: data.join('\n') };
      event = '';
      data = [];
      dataChars = 0;
      return ready;
    }
    // A line starting with ":" is a comment (keepalives).
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') {
      dataChars += value.length;
      if (dataChars > maxEventChars) throw new SseEventTooLarge(`an event of the stream is longer than ${maxEventChars} characters`);
      data.push(value);
    }
    return undefined;
  };
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffered += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let newline: number;
      // Searched from where the last search stopped: a long line arriving in small chunks is scanned once, not once per chunk.
      while ((newline = buffered.indexOf('\n', scanned)) !== -1) {
        const ready = take(buffered.slice(0, newline).replace(/\r$/, ''));
        buffered = buffered.slice(newline + 1);
        scanned = 0;
        if (ready !== undefined) yield ready;
      }
      scanned = buffered.length;
      if (buffered.length > maxEventChars) throw new SseEventTooLarge(`a line of the stream is longer than ${maxEventChars} characters`);
      if (done) break;
    }
    // A stream that ends without the blank line after its last event still delivered it.
    const last = take(buffered.replace(/\r$/, '')) ?? take('');
    if (last !== undefined) yield last;
  } finally {
    reader.releaseLock();
    await body.cancel().catch(() => undefined);
  }
}
