import { P2pError } from '../../extension/common/errors';

/** The P2pError an operation refused with; any other outcome fails the test. */
export async function refusalOf(promise: Promise<unknown>): Promise<P2pError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof P2pError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}
