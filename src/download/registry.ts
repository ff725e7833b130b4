/**
 * The download running on each resource object, so that `serveRange` can
 * pull the ranges its clients wait for to the front without being told.
 * Weak: it keeps neither the resource nor the download alive.
 */
import type { ResourceBase } from '../resource.js'
import type { Download } from './download.js'

const running = new WeakMap<ResourceBase, Download>()

/** Records `download` as the one filling `resource` (the latest wins). */
export function registerDownload(resource: ResourceBase, download: Download): void {
  running.set(resource, download)
}

/** The download started last on `resource`, if any. */
export function downloadOf(resource: ResourceBase): Download | null {
  return running.get(resource) ?? null
}
