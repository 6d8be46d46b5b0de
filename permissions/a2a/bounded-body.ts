/**
 * Reads a fetch body as text, up to a limit: an agent that answers with an
 * endless or huge body stops being read at the limit instead of filling the
 * host's memory. Used for the agent's plain answers and for its card.
 */

/** Thrown when the body is longer than the reader takes. */
export class BodyTooLarge extends Error {
  override name = 'BodyTooLarge';
}

export async function readBoundedText(body: ReadableStream<Uint8Array> | null, maxChars: number): Promise<string> {
  if (body === null) return '';
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let text = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      text += done ? decoder.decode() : decoder.decode(value, { stream: true });
      if (text.length > maxChars) throw new BodyTooLarge(`the body is longer than ${maxChars} characters`);
      if (done) return text;
    }
  } finally {
    reader.releaseLock();
    await body.cancel().catch(() => undefined);
  }
}
