/**
 * The part of express that the A2A SDK's express handlers and the test
 * agent built with them use; express 5 ships no type declarations and
 * @types/express would add a dependency for these few lines.
 */
declare module 'express' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  namespace express {
    type Request = IncomingMessage;
    type Response = ServerResponse;
    type NextFunction = (error?: unknown) => void;
    type RequestHandler = (req: Request, res: Response, next: NextFunction) => void;

    /** An app is itself a request listener, so node:http serves it. */
    interface Application {
      (req: IncomingMessage, res: ServerResponse): void;
      use(path: string, ...handlers: RequestHandler[]): Application;
    }
  }

  function express(): express.Application;
  export = express;
}
