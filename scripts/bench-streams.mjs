// Part of `npm run bench`: what many open /v1/jobs/{id}/events streams on running jobs cost the
// server. Each job is followed once for all its streams, so idle streams should cost sockets and
// memory, not disk polls: measured as server CPU over a quiet window, RSS, and another caller's
// GET /v1/jobs latency with the streams open. Loopback only; the caller boots and stops the server.
import http from 'node:http';
import fs from 'node:fs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function cpuSeconds(pid) {
  // utime + stime, fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 a second on Linux).
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssMb(pid) {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return Math.round(kb / 102.4) / 10;
}

function openEventStream(url, path, token) {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' }, agent: false }, (res) => {
      res.resume();
      resolve({ status: res.statusCode, close: () => req.destroy() });
    });
    req.on('error', (err) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
    req.end();
  });
}

async function listLatencyMs(url, token, calls) {
  const times = [];
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    const res = await fetch(`${url}/v1/jobs?limit=20`, { headers: { Authorization: `Bearer ${token}` } });
    await res.text();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return Math.round(times[Math.floor(times.length / 2)] * 10) / 10;
}

/**
 * Opens `streams` event streams spread over `jobs` running jobs and measures the server with them
 * open and idle (the jobs print a line every 2 s).
 */
export async function measureStreams({ url, pid, token, streams = 1000, jobs = 4, quietMs = 10_000 }) {
  const jobIds = [];
  for (let i = 0; i < jobs; i++) {
    const res = await fetch(`${url}/v1/jobs`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ prompt: `#fake tick 60 2000\nstream bench ${i}` }) });
    jobIds.push((await res.json()).jobId);
  }
  const listBefore = await listLatencyMs(url, token, 20);
  const rssBefore = rssMb(pid);
  const cpu0 = cpuSeconds(pid);
  await sleep(quietMs);
  const idleCpuBefore = cpuSeconds(pid) - cpu0;
  const open = [];
  try {
    for (let i = 0; i < streams; i++) {
      const s = await openEventStream(url, `/v1/jobs/${jobIds[i % jobs]}/events`, token);
      if (s.status !== 200) throw new Error(`stream ${i} answered ${s.status}`);
      open.push(s);
    }
    const health = await (await fetch(`${url}/healthz`)).json();
    const cpu1 = cpuSeconds(pid);
    await sleep(quietMs);
    const idleCpuWith = cpuSeconds(pid) - cpu1;
    const listWith = await listLatencyMs(url, token, 20);
    return {
      streams, jobs, followedJobs: health.followedJobs,
      rssBeforeMb: rssBefore, rssWithMb: rssMb(pid),
      cpuPerSecondBefore: Math.round((idleCpuBefore / (quietMs / 1000)) * 1000) / 1000,
      cpuPerSecondWith: Math.round((idleCpuWith / (quietMs / 1000)) * 1000) / 1000,
      listP50BeforeMs: listBefore, listP50WithMs: listWith,
    };
  } finally {
    for (const s of open) s.close();
    for (const jobId of jobIds) await fetch(`${url}/v1/jobs/${jobId}/cancel`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } }).then((r) => r.text(), () => {});
  }
}

// Standalone: node scripts/bench-streams.mjs <url> <serverPid> <token> [streams]
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const [url, pid, token, streams] = process.argv.slice(2);
  console.log(JSON.stringify(await measureStreams({ url, pid: Number(pid), token, streams: Number(streams ?? 1000) })));
}
