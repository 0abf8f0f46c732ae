// Runs one scenario of tests/compat/scenarios.json with kafkajs:
// node scenarios.js SCENARIO, configured by the environment (BOOTSTRAP,
// TOPIC, GROUP, CLIENT, TS_BASE, CODEC, WRITER, FIXED_TS). Exit 0: passed;
// 77: skipped (reason on stdout); 1: failed (reason on stderr).
//
// kafkajs ships gzip only; snappy comes from kafkajs-snappy, lz4 and zstd
// from the pure-JS lz4js and the WebAssembly @bokuweb/zstd-wasm (the native
// codec packages would need a compiler and node headers at install).
'use strict'

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'
const { Kafka, CompressionTypes, CompressionCodecs, ConfigResourceTypes, logLevel } = require('kafkajs')
const lz4 = require('lz4js')
const zstd = require('@bokuweb/zstd-wasm')

CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy')
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  compress: async (encoder) => Buffer.from(lz4.compress(encoder.buffer)),
  decompress: async (buffer) => Buffer.from(lz4.decompress(buffer)),
})
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  compress: async (encoder) => Buffer.from(zstd.compress(encoder.buffer, 3)),
  decompress: async (buffer) => Buffer.from(zstd.decompress(buffer)),
})

const codecs = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
}

const env = process.env
const bootstrap = env.BOOTSTRAP
const tsBase = Number(env.TS_BASE || '0')
const kafka = new Kafka({ clientId: 'weir-compat-kafkajs', brokers: [bootstrap], logLevel: logLevel.NOTHING })
const TIMEOUT_MS = 60000

class Failure extends Error {}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function produce (topic, codec, recs) {
  if (!(codec in codecs)) throw new Failure(`unknown codec ${codec}`)
  const p = kafka.producer({ allowAutoTopicCreation: true })
  await p.connect()
  try {
    await p.send({
      topic,
      acks: -1,
      compression: codecs[codec],
      messages: recs.map((r) => {
        const m = { key: r.key, value: r.value, partition: 0, headers: Object.fromEntries(r.headers || []) }
        if (r.ts) m.timestamp = String(r.ts)
        return m
      }),
    })
  } finally {
    await p.disconnect()
  }
}

function toRec (m) {
  return {
    key: m.key && m.key.toString(),
    value: m.value && m.value.toString(),
    headers: Object.entries(m.headers || {}).map(([k, v]) => [k, v.toString()]),
    ts: Number(m.timestamp),
    offset: Number(m.offset),
  }
}

// consumeGroup runs a group consumer until n records arrived. opts.from:
// beginning, end or a timestamp; opts.commit commits after the n-th record;
// opts.ready is called once the consumer joined (and, for end, had time to
// resolve the end offset).
async function consumeGroup (topic, group, n, opts) {
  const c = kafka.consumer({ groupId: group, maxWaitTimeInMs: 100, rebalanceTimeout: 10000 })
  const out = []
  let done
  const finished = new Promise((resolve) => { done = resolve })
  let joined
  const joinedP = new Promise((resolve) => { joined = resolve })
  c.on(c.events.GROUP_JOIN, () => joined())
  await c.connect()
  try {
    await c.subscribe({ topic, fromBeginning: opts.from !== 'end' })
    let seekTo = null
    if (opts.from !== 'beginning' && opts.from !== 'end') {
      const offs = await admin.fetchTopicOffsetsByTimestamp(topic, Number(opts.from))
      seekTo = offs.find((o) => o.partition === 0).offset
    }
    await c.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        if (out.length >= n) return
        out.push(toRec(message))
        if (out.length === n) {
          if (opts.commit) {
            await c.commitOffsets([{ topic, partition: 0, offset: String(out[n - 1].offset + 1) }])
          }
          done()
        }
      },
    })
    if (seekTo !== null) c.seek({ topic, partition: 0, offset: seekTo })
    if (opts.ready) {
      await Promise.race([joinedP, sleep(TIMEOUT_MS)])
      await sleep(2000)
      if (out.length > 0) throw new Failure(`read ${JSON.stringify(out)} before anything was produced`)
      await opts.ready()
    }
    await Promise.race([finished, sleep(TIMEOUT_MS)])
    if (out.length < n) throw new Failure(`got ${out.length} of ${n} records: ${JSON.stringify(out)}`)
    return out
  } finally {
    await c.disconnect()
  }
}

let admin

function interopRecords (writer, fixedTs) {
  const rs = []
  for (let i = 0; i < 5; i++) {
    rs.push({
      key: `key-${i}`,
      value: `${writer} value ${i}`,
      headers: [['origin', writer], ['index', String(i)]],
      ts: fixedTs ? tsBase + 1000 * i : 0,
      offset: i,
    })
  }
  return rs
}

function compare (got, want, checkTs) {
  if (got.length !== want.length) throw new Failure(`got ${got.length} records, want ${want.length}`)
  want.forEach((w, i) => {
    const g = got[i]
    if (g.key !== w.key || g.value !== w.value || g.offset !== w.offset || JSON.stringify(g.headers) !== JSON.stringify(w.headers)) {
      throw new Failure(`record ${i}: got ${JSON.stringify(g)}, want ${JSON.stringify(w)}`)
    }
    if (checkTs && ((w.ts && g.ts !== w.ts) || (!w.ts && g.ts <= tsBase))) {
      throw new Failure(`record ${i}: timestamp ${g.ts}, want ${w.ts} (0: later than ${tsBase})`)
    }
  })
}

async function metadata (topic) {
  const cluster = await admin.describeCluster()
  const brokers = cluster.brokers.map((b) => `${b.host}:${b.port}`)
  const ids = new Set(cluster.brokers.map((b) => b.nodeId))
  const md = await admin.fetchTopicMetadata({ topics: [topic] })
  const t = md.topics.find((x) => x.name === topic)
  if (!t) throw new Failure(`topic ${topic} not in metadata`)
  return { brokers, parts: t.partitions.length, leaders: t.partitions.every((p) => ids.has(p.leader)) }
}

async function run (scenario) {
  const topic = env.TOPIC
  const group = env.GROUP
  const unique = () => `${group}-${process.pid}-${Date.now()}`
  if (scenario === 'metadata') {
    await produce(topic, 'none', [{ key: 'k', value: 'v' }])
    const md = await metadata(topic)
    if (!md.brokers.includes(bootstrap)) throw new Failure(`brokers ${md.brokers} do not include ${bootstrap}`)
    if (md.parts !== 1 || !md.leaders) throw new Failure(`topic ${topic}: ${JSON.stringify(md)}`)
  } else if (scenario === 'admin-topics') {
    const spec = { topics: [{ topic, numPartitions: 3, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '3600000' }] }], waitForLeaders: true }
    // kafkajs answers false for TOPIC_ALREADY_EXISTS.
    if (!(await admin.createTopics(spec))) throw new Failure('first create: already exists')
    if (await admin.createTopics(spec)) throw new Failure('second create: no TOPIC_ALREADY_EXISTS')
    const md = await metadata(topic)
    if (md.parts !== 3) throw new Failure(`metadata: ${md.parts} partitions, want 3`)
    const cfg = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms'] }], includeSynonyms: false })
    const e = cfg.resources[0].configEntries.find((x) => x.configName === 'retention.ms')
    if (!e || e.configValue !== '3600000') throw new Failure(`describe configs: ${JSON.stringify(cfg.resources[0])}`)
    await admin.deleteTopics({ topics: [topic] })
    const deadline = Date.now() + 15000
    while ((await admin.listTopics()).includes(topic)) {
      if (Date.now() > deadline) throw new Failure('topic still listed 15 s after delete')
      await sleep(200)
    }
  } else if (scenario.startsWith('produce-')) {
    const codec = scenario.slice('produce-'.length)
    const want = []
    for (let i = 0; i < 10; i++) {
      want.push({ key: `key-${i}`, value: `value-${i} ${'x'.repeat(100)}`, headers: [['h1', `v1-${i}`], ['h2', `v2-${i}`]], offset: i })
    }
    await produce(topic, codec, want)
    compare(await consumeGroup(topic, unique(), 10, { from: 'beginning' }), want, false)
  } else if (scenario === 'consume-offsets') {
    for (let i = 0; i < 5; i++) {
      if (i) await sleep(10)
      await produce(topic, 'none', [{ key: `key-${i}`, value: `r${i}` }])
    }
    const got = await consumeGroup(topic, unique(), 5, { from: 'beginning' })
    got.forEach((r, i) => {
      if (r.offset !== i || r.value !== `r${i}` || (i && r.ts <= got[i - 1].ts)) throw new Failure(`from beginning: ${JSON.stringify(got)}`)
    })
    let first = (await consumeGroup(topic, unique(), 1, { from: String(got[2].ts) }))[0]
    if (first.offset !== 2 || first.value !== 'r2') throw new Failure(`from timestamp ${got[2].ts}: got ${JSON.stringify(first)}`)
    first = (await consumeGroup(topic, unique(), 1, { from: 'end', ready: () => produce(topic, 'none', [{ key: 'key-5', value: 'r5' }]) }))[0]
    if (first.offset !== 5 || first.value !== 'r5') throw new Failure(`from end: got ${JSON.stringify(first)}`)
  } else if (scenario === 'group-commit-resume') {
    const recs = []
    for (let i = 0; i < 6; i++) recs.push({ key: `key-${i}`, value: `g${i}` })
    await produce(topic, 'none', recs)
    const first = await consumeGroup(topic, group, 3, { from: 'beginning', commit: true })
    const second = await consumeGroup(topic, group, 3, { from: 'beginning', commit: true })
    first.concat(second).forEach((r, i) => {
      if (r.offset !== i || r.value !== `g${i}`) throw new Failure(`record ${i}: ${JSON.stringify(r)}; first consumer ${JSON.stringify(first)}`)
    })
  } else if (scenario === 'interop-write') {
    await produce(topic, env.CODEC, interopRecords(env.CLIENT, true))
  } else if (scenario === 'interop-read') {
    const want = interopRecords(env.WRITER, env.FIXED_TS === '1')
    compare(await consumeGroup(topic, unique(), want.length, { from: 'beginning' }), want, true)
  } else {
    throw new Failure(`unknown scenario ${scenario}`)
  }
}

async function main () {
  const scenario = process.argv[2]
  await zstd.init()
  admin = kafka.admin()
  await admin.connect()
  try {
    await run(scenario)
  } finally {
    await admin.disconnect()
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(`kafkajs ${process.argv[2]}: ${e instanceof Failure ? e.message : (e && e.stack) || e}`)
  process.exit(1)
})
