/** The errors `download()` rejects with when the origin, not the storage, is at fault. */

/** Stable codes of a {@link DownloadError} (see the README's error table). */
export type DownloadErrorCode =
  /** The origin answered with a status or a response that cannot be used (`status` set), after the retries. */
  | 'ERR_DOWNLOAD_HTTP'
  /** The origin's file is not the one the resource holds bytes of (ETag, Last-Modified or length differ). */
  | 'ERR_DOWNLOAD_CHANGED'
  /** The connection failed or broke off, after the retries; `cause` holds the last network error. */
  | 'ERR_DOWNLOAD_NETWORK'

/** Optional details of a {@link DownloadError}. */
export interface DownloadErrorDetails {
  status?: number
  cause?: unknown
}

/** A download failure caused by the origin or the network, with a stable `code`. */
export class DownloadError extends Error {
  readonly code: DownloadErrorCode
  /** The URL asked for. */
  readonly url: string
  /** The HTTP status of the answer that was refused, when there was one. */
  readonly status?: number

  constructor(code: DownloadErrorCode, url: string, message: string, details: DownloadErrorDetails = {}) {
    super(`${message} (${url})`, details.cause === undefined ? undefined : { cause: details.cause })
    this.code = code
    this.url = url
    if (details.status !== undefined) this.status = details.status
  }

  override get name(): string {
    return 'DownloadError'
  }
}
