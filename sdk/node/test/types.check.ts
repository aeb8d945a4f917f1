// Compiles against lib/index.d.ts (not run): checks the shipped declarations with
// `tsc --noEmit --strict --types node sdk/node/test/types.check.ts` (TypeScript 5, @types/node 20;
// neither is a dependency of the SDK, see docs/sdk-node.md).
import * as concord from '../lib/index';

class Counter extends concord.Computation {
  metadata(): concord.MetadataSpec {
    return { name: 'counter', inputs: [['words', concord.StreamGrouping.GROUP_BY]], outputs: ['counts'], states: ['count'] };
  }
  async processRecord(ctx: concord.Context, record: concord.Record): Promise<void> {
    const c = ctx.state('count');
    const n = Number((c.get() ?? Buffer.from('0')).toString()) + 1;
    c.set(String(n));
    ctx.produceRecord('counts', record.key, String(n), record.eventTimeUnixMs);
    ctx.setTimer('t', Date.now() + 10, concord.TimeDomain.EVENT);
    ctx.log('x', concord.LogLevel.DEBUG);
  }
  processTimer(ctx: concord.Context, key: string, timeMs: number): void {
    ctx.produceRecord('counts', ctx.stateKey, `${key}:${timeMs}`);
  }
}
const op: concord.Operator = { metadata: () => new concord.Metadata({ name: 'x' }), processRecord: () => {} };
concord.serveComputation(new Counter());
void concord.runComputation(op, '/tmp/x.sock').then((code: number) => code);
async function client(): Promise<void> {
  const c = new concord.SchedulerClient('http://127.0.0.1:7400', { token: 't', timeoutMs: 1000 });
  const st = await c.deploy({ name: 'x', executable: '/bin/true', inputs: [{ stream: 'a', grouping: 'group_by' }] });
  console.log(st.spec.name, st.instances.length);
  const r = await c.replace({ name: 'x' }, { dropState: true });
  console.log(r.switchMs, r.totalMs, r.restarted);
  const g = await c.graph();
  console.log(g.edges.map((e) => e.fromOperator));
  await c.scale('x', 2); await c.kill('x'); (await c.list()).forEach((o) => o.spec.name);
  c.close();
}
void client;
// @ts-expect-error: a state value must be bytes or a string
new Counter().metadata() && ({} as concord.State).set(5);
