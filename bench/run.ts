// `npm run bench -- [name…]`: runs the named benchmarks (all by default) and writes bench/results.json.
import { runActionCostBench } from './action-cost.js';
import { runColdStartBench } from './cold-start.js';
import { runDriverThroughputBench } from './driver-throughput.js';
import { runGuestActionsBench } from './guest-actions.js';
import { runHostScaleBench } from './host-scale.js';
import { runLifecycleBench } from './lifecycle.js';
import { runOnedActionsBench } from './oned-actions.js';
import { runPollScaleBench } from './poll-scale.js';
import { runTranslateBench } from './translate.js';

const benches: Record<string, () => void | Promise<void>> = {
  translate: runTranslateBench,
  'cold-start': runColdStartBench,
  'driver-throughput': runDriverThroughputBench,
  'poll-scale': runPollScaleBench,
  lifecycle: runLifecycleBench,
  'oned-actions': runOnedActionsBench,
  'action-cost': runActionCostBench,
  'guest-actions': runGuestActionsBench,
  'host-scale': runHostScaleBench,
};

const names = process.argv.slice(2);
for (const name of names) {
  if (!(name in benches)) {
    console.error(`bench: unknown benchmark '${name}'; known: ${Object.keys(benches).join(', ')}`);
    process.exit(2);
  }
}
for (const name of names.length > 0 ? names : Object.keys(benches)) await benches[name]!();
