/**
 * The resource argument of the serve and download helpers, checked as the
 * resource classes check theirs (kept beside them, not in validate.ts, so the
 * helpers depend only on the public classes).
 */
import { type Site, invalidArgType } from './errors.js'
import { ResourceBase } from './resource.js'

/** Throws `ERR_INVALID_ARG_TYPE` unless `value` is a resource of this package. */
export function validateResource(value: unknown, name: string, site: Site): asserts value is ResourceBase {
  if (!(value instanceof ResourceBase)) {
    throw invalidArgType(
      name,
      'a resource (MmapResource, MemResource, StorageResource, Atomic or AtomicChunked)',
      value,
      site,
    )
  }
}
