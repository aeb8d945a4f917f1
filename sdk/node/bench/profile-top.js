'use strict';
// Prints the top self-time entries of a V8 .cpuprofile (node --cpu-prof):
//   node sdk/node/bench/profile-top.js FILE.cpuprofile [N]
const fs = require('fs');
const path = require('path');

const [file, count = '20'] = process.argv.slice(2);
const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map();
const dt = profile.timeDeltas;
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i];
  selfUs.set(id, (selfUs.get(id) || 0) + (dt[i] || 0));
}
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
const byFunction = new Map();
for (const [id, us] of selfUs) {
  const f = byId.get(id).callFrame;
  const where = f.url ? `${path.basename(f.url)}:${f.lineNumber + 1}` : '';
  const name = `${f.functionName || '(anonymous)'} ${where}`.trim();
  byFunction.set(name, (byFunction.get(name) || 0) + us);
}
const rows = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(count));
console.log(`total ${(total / 1e6).toFixed(2)} s sampled`);
for (const [name, us] of rows) console.log(`${(100 * us / total).toFixed(1).padStart(5)}%  ${name}`);
