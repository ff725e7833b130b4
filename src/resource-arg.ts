/**
 * The resource argument of the serve and download helpers, checked as the
 * resource classes check theirs (kept beside them, not in validate.ts, so the
 * helpers depend only on the public classes).
 */
import { argumentError } from './errors.js'
import { ResourceBase } from './resource.js'
import { describeReceived } from './validate.js'

/** Throws `ERR_INVALID_ARG_TYPE` unless `value` is a resource of this package. */
export function validateResource(value: unknown, name: string, site: unknown): asserts value is ResourceBase {
  if (!(value instanceof ResourceBase)) {
    throw argumentError(
      TypeError,
      'ERR_INVALID_ARG_TYPE',
      `The "${name}" argument must be a resource (MmapResource, MemResource, StorageResource, Atomic or AtomicChunked). ${describeReceived(value)}`,
      site,
    )
  }
}
