// `node dist/ssh2-cache.mjs`: writes V8's code cache for dist/ssh2.cjs (scripts/build.mjs runs it).
import { writeSsh2CodeCache } from './ssh2-load.js';

writeSsh2CodeCache();
