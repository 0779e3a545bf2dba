// render_bench.js: renders per second of the same email through mustache.js (which has no
// parents/blocks, so the layout is split into head/foot partials giving identical output).
// It escapes the same five characters as microtrigger (see below).
// Usage: node render_bench.js DIR SECONDS MUSTACHE_MODULE_PATH OUTPUT
const fs = require('fs');
const [dir, secondsArg, modulePath, output] = process.argv.slice(2);
const Mustache = require(modulePath);
// Escape the same characters as microtrigger (mustache.js also escapes / ` =), so both engines
// do the same work and their outputs can be compared byte for byte.
const entities = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
Mustache.escape = (text) => String(text).replace(/[&<>"']/g, (c) => entities[c]);
const read = (name) => fs.readFileSync(`${dir}/${name}`, 'utf8');
const template = read('js_email.mustache');
const partials = { js_head: read('js_head.mustache'), js_foot: read('js_foot.mustache') };
const data = JSON.parse(read('data.json'));
const seconds = Number(secondsArg || 2);
if (output) fs.writeFileSync(output, Mustache.render(template, data, partials));
for (let i = 0; i < 20000; i++) Mustache.render(template, data, partials); // JIT warm-up
let renders = 0;
const start = process.hrtime.bigint();
let elapsed = 0;
do {
  for (let i = 0; i < 1000; i++) Mustache.render(template, data, partials);
  renders += 1000;
  elapsed = Number(process.hrtime.bigint() - start) / 1e9;
} while (elapsed < seconds);
console.log(`renders_per_sec ${Math.round(renders / elapsed)} (mustache ${Mustache.version})`);
