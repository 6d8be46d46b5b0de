import { EventEmitter } from 'node:events';
import Bonjour from 'bonjour-service';
import type { CreateResponder, MdnsResponder } from './mdns-discovery';

/**
 * The production responder: bonjour-service over multicast-dns. On one
 * interface the socket still binds the wildcard address, since on Linux a
 * socket bound to an interface's own address receives no multicast; the
 * interface then selects group membership and the outgoing interface.
 */
export const createBonjourResponder: CreateResponder = (networkInterface, onError) => {
  // bonjour-service passes these to multicast-dns, though its type declares service fields.
  const socketOptions = (networkInterface === null ? {} : { interface: networkInterface, bind: '0.0.0.0' }) as Partial<Bonjour.ServiceConfig>;
  const bonjour = new Bonjour(socketOptions, (error: Error) => onError(error, 'error'));
  const socket = multicastSocketOf(bonjour);
  socket.on('error', (error: Error) => onError(error, 'error'));
  socket.on('warning', (error: Error) => onError(error, 'warning'));
  return adapt(bonjour);
};

/**
 * bonjour-service does not expose its multicast-dns instance, nor listen to
 * its 'error' event, so a bind failure (EADDRINUSE, EACCES) would be an
 * uncaught exception. Its field is reached here, in one place; the
 * dependency's version is pinned.
 */
function multicastSocketOf(bonjour: Bonjour): EventEmitter {
  const mdns = (bonjour as unknown as { server?: { mdns?: unknown } }).server?.mdns;
  if (mdns instanceof EventEmitter) return mdns;
  bonjour.destroy();
  throw new Error('bonjour-service no longer has server.mdns; LAN discovery needs the version in package.json');
}

function adapt(bonjour: Bonjour): MdnsResponder {
  return {
    publish: (service) => {
      const published = bonjour.publish(service);
      return {
        get published() {
          return published.published;
        },
        stop: () => published.stop(),
      };
    },
    find: (query) => {
      const browser = bonjour.find(query);
      return {
        on: (event, listener) => void browser.on(event, listener),
        stop: () => browser.stop(),
        get serviceCount() {
          return browser.services.length;
        },
      };
    },
    unpublishAll: (done) => bonjour.unpublishAll(done),
    destroy: (done) => bonjour.destroy(done),
  };
}
