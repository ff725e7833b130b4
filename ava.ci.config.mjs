// `npm run test:ci`: the suites a CI host test job provides for. Such a job
// has the prebuilt addon, the TypeScript facade and the WebAssembly backend's
// files (for the fallback checks in package.test.ts), but none of the system
// programs `npm test` installs. Left out here, run elsewhere in CI:
//   __test__/wasm/, and the shared suites on the wasm backend: `npm run test:wasm`
//   __test__/browser/: needs Chromium (`npm run test:browser`)
//   __test__/download/: needs nginx
//   __test__/serve/: needs curl, ffmpeg/ffprobe and chromium
// A new suite that needs a system program (nginx, curl, ffmpeg, chromium, ...)
// goes in a directory excluded here.
import base from './ava.config.mjs'

export default {
  ...base,
  files: [...base.files, '!__test__/wasm/**', '!__test__/browser/**', '!__test__/download/**', '!__test__/serve/**'],
}
