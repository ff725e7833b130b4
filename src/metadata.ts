/**
 * A resource's metadata: what is known about its bytes (the origin's ETag,
 * Last-Modified, type and URL, plus a small object of the user's), kept by the
 * core as a string map in the range record. This module is the one place
 * that maps the typed fields to the record's keys and checks their values.
 */
import { type Site, invalidArgType, invalidArgValue, outOfRange } from './errors.js'
import { validateObject } from './validate.js'

/** What `metadata()` returns: the fields that are set. */
export interface ResourceMetadata {
  /** The origin's entity tag, as it sent it (`'"v1"'`, `'W/"v1"'`). */
  etag?: string
  /** The origin's `Last-Modified`, as it sent it (an HTTP date). */
  lastModified?: string
  /** The origin's `Content-Type`. */
  contentType?: string
  /** Where the bytes come from. */
  url?: string
  /** Anything JSON can hold, of at most {@link MAX_USER_JSON} bytes as JSON. */
  user?: unknown
}

/** What `setMetadata` takes: a value sets a field, `null` removes it, a missing field stays. */
export type MetadataPatch = { [K in keyof ResourceMetadata]?: ResourceMetadata[K] | null }

/** The longest `etag`, `lastModified`, `contentType` or `url`, in UTF-8 bytes. */
export const MAX_FIELD_BYTES = 8 * 1024
/** The largest `user` object, in UTF-8 bytes of JSON. */
export const MAX_USER_JSON = 16 * 1024

const encoder = new TextEncoder()
const utf8Length = (s: string): number => encoder.encode(s).length

/** Field name → key in the record. */
const KEYS = {
  etag: 'etag',
  lastModified: 'last-modified',
  contentType: 'content-type',
  url: 'url',
  user: 'user',
} as const satisfies Record<keyof ResourceMetadata, string>

type Field = keyof typeof KEYS
const FIELDS = Object.keys(KEYS) as Field[]

/** The typed view of the record's map; an entry that does not parse is left out. */
export function fromRecordMetadata(map: Record<string, string>): ResourceMetadata {
  const out: ResourceMetadata = {}
  for (const field of FIELDS) {
    const raw = map[KEYS[field]]
    if (typeof raw !== 'string') continue
    if (field !== 'user') out[field] = raw
    else {
      try {
        out.user = JSON.parse(raw)
      } catch {
        // Written by something else: not ours to interpret.
      }
    }
  }
  return out
}

/** The record changes for `patch`, each field read once and validated (Node's codes). */
export function toRecordChanges(patch: unknown, site: Site): Record<string, string | null> {
  validateObject(patch, 'patch')
  for (const key of Object.keys(patch)) {
    if (!(FIELDS as string[]).includes(key)) {
      throw invalidArgValue(`patch.${key}`, key, `is not a metadata field (${FIELDS.join(', ')})`, site)
    }
  }
  const changes: Record<string, string | null> = {}
  for (const field of FIELDS) {
    const value: unknown = (patch as Record<string, unknown>)[field]
    if (value === undefined) continue
    const name = `patch.${field}`
    if (value === null) changes[KEYS[field]] = null
    else if (field === 'user') changes[KEYS[field]] = userJson(value, name, site)
    else {
      if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value, site)
      const bytes = utf8Length(value)
      if (bytes > MAX_FIELD_BYTES) throw outOfRange(name, `at most ${MAX_FIELD_BYTES} bytes of UTF-8`, bytes, site)
      changes[KEYS[field]] = value
    }
  }
  return changes
}

/** `value` as JSON, or why it cannot be kept. */
function userJson(value: unknown, name: string, site: Site): string {
  let json: string | undefined
  try {
    json = JSON.stringify(value)
  } catch (cause) {
    throw Object.assign(invalidArgValue(name, value, 'must be serializable as JSON', site), { cause })
  }
  if (json === undefined) throw invalidArgValue(name, value, 'must be serializable as JSON', site)
  const bytes = utf8Length(json)
  if (bytes > MAX_USER_JSON) throw outOfRange(name, `at most ${MAX_USER_JSON} bytes of JSON`, bytes, site)
  return json
}
