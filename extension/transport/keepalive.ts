import type { WebSocket } from 'ws';

/**
 * Pings the peer every interval; a peer that has not answered the previous
 * ping by the next one is cut off, so a dead connection is noticed within
 * two intervals. Returns a function that stops the keepalive.
 */
export function keepAlive(socket: WebSocket, intervalMs: number, onDead: () => void): () => void {
  let answered = true;
  const onPong = (): void => {
    answered = true;
  };
  socket.on('pong', onPong);
  const timer = setInterval(() => {
    if (!answered) {
      clearInterval(timer);
      onDead();
      socket.terminate();
      return;
    }
    answered = false;
    socket.ping();
  }, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    socket.off('pong', onPong);
  };
}
