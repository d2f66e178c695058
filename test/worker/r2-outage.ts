/**
 * An R2 binding in an outage, for the R2 store's error handling: the store is a thin adapter over
 * its binding, and the local R2 cannot be made to fail as a whole, so this binding fails every
 * call the way R2 does (an Error whose message ends with R2's error code).
 */
export function r2InOutage(): R2Bucket {
  const fail = (op: string) => async () => {
    throw new Error(`${op}: We encountered an internal error. Please try again. (10001)`);
  };
  return {
    head: fail("head"),
    get: fail("get"),
    put: fail("put"),
    delete: fail("delete"),
    list: fail("list"),
    createMultipartUpload: fail("createMultipartUpload"),
  } as unknown as R2Bucket;
}
