// The one file-writing helper (src/files/): atomic writes and the lock file the token store, the
// OAuth state and the CLI share. Real processes race each other here, and one is killed mid-write.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { createFileExclusive, writeFileAtomic, writeFileAtomicSync } from '../src/files/atomic.js';
import { withFileLock } from '../src/files/lock.js';
import { StateFile } from '../src/files/state-file.js';
import { z } from 'zod';
import { tempDir } from './support/helpers.js';

const ATOMIC = new URL('../src/files/atomic.js', import.meta.url).href;
const LOCK = new URL('../src/files/lock.js', import.meta.url).href;
const started: ChildProcess[] = [];
const dirs: string[] = [];

function node(script: string, ...args: string[]): ChildProcess {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  return child;
}

async function exitOf(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr };
}

function dir(): string {
  const d = tempDir('ca-files-');
  dirs.push(d);
  return d;
}

after(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('atomic writes', () => {
  it('create files 0600 whatever the umask, and leave no temp file behind', async () => {
    const d = dir();
    const before = process.umask(0);
    try {
      await writeFileAtomic(path.join(d, 'a.json'), '{"a":1}');
      writeFileAtomicSync(path.join(d, 'b.json'), '{"b":1}');
      assert.equal(await createFileExclusive(path.join(d, 'c.json'), '{"c":1}'), true);
    } finally {
      process.umask(before);
    }
    for (const name of ['a.json', 'b.json', 'c.json']) assert.equal(fs.statSync(path.join(d, name)).mode & 0o777, 0o600, name);
    assert.deepEqual(fs.readdirSync(d).sort(), ['a.json', 'b.json', 'c.json']);
  });

  it('an exclusive create never replaces: the second one is refused and the first content stays', async () => {
    const d = dir();
    const target = path.join(d, 'claim.json');
    const results = await Promise.all([1, 2, 3, 4].map((n) => createFileExclusive(target, `{"n":${n}}`)));
    assert.equal(results.filter(Boolean).length, 1);
    const winner = results.indexOf(true) + 1;
    assert.equal(fs.readFileSync(target, 'utf8'), `{"n":${winner}}`);
  });

  it('concurrent writers in other processes: every read sees one whole version, never a mix', async () => {
    const d = dir();
    const target = path.join(d, 'state.json');
    await writeFileAtomic(target, JSON.stringify({ writer: 'none', pad: '' }));
    const script = `import { writeFileAtomic } from ${JSON.stringify(ATOMIC)};
      const [target, writer] = process.argv.slice(1);
      for (let i = 0; i < 40; i++) await writeFileAtomic(target, JSON.stringify({ writer, i, pad: writer.repeat(20000) }));`;
    const writers = ['a', 'b', 'c'].map((w) => node(script, target, w));
    const done = Promise.all(writers.map(exitOf));
    let reads = 0;
    let finished = false;
    void done.then(() => (finished = true));
    while (!finished) {
      const value = JSON.parse(fs.readFileSync(target, 'utf8')) as { writer: string; pad: string };
      assert.ok(value.writer === 'none' || value.pad === value.writer.repeat(20000), 'a torn or mixed file was read');
      reads++;
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (const { code, stderr } of await done) assert.equal(code, 0, stderr);
    assert.ok(reads > 0);
    assert.deepEqual(fs.readdirSync(d), ['state.json'], 'no temp file is left behind');
  });

  it('a writer killed mid-write leaves the old content whole', async () => {
    const d = dir();
    const target = path.join(d, 'precious.json');
    const old = JSON.stringify({ version: 'old' });
    fs.writeFileSync(target, old, { mode: 0o600 });
    // The new content is large enough that writing and fsyncing it takes a while; the kill comes as
    // soon as the temp file shows up. Should a fast disk finish first, try again with more.
    for (const mb of [64, 192]) {
      const watcher = fs.watch(d);
      const tmpSeen = new Promise<void>((resolve) => watcher.on('change', (_event, name) => String(name).endsWith('.tmp') && resolve()));
      const child = node(`import { writeFileAtomic } from ${JSON.stringify(ATOMIC)};
        await writeFileAtomic(process.argv[1], JSON.stringify({ version: 'new', pad: 'x'.repeat(${mb} * 1024 * 1024) }));`, target);
      const exited = exitOf(child);
      await Promise.race([tmpSeen, exited]);
      child.kill('SIGKILL');
      await exited;
      watcher.close();
      const leftovers = fs.readdirSync(d).filter((n) => n.endsWith('.tmp'));
      if (leftovers.length === 0) continue; // it finished before the kill: not a crash mid-write
      assert.equal(fs.readFileSync(target, 'utf8'), old);
      return;
    }
    assert.fail('the writer always finished before it could be killed');
  });
});

describe('the lock file', () => {
  const counterScript = `import { withFileLock } from ${JSON.stringify(LOCK)};
    import { writeFileAtomic } from ${JSON.stringify(ATOMIC)};
    import fs from 'node:fs';
    const [file, times] = process.argv.slice(1);
    for (let i = 0; i < Number(times); i++) {
      await withFileLock(file + '.lock', async () => {
        const n = JSON.parse(fs.readFileSync(file, 'utf8')).n;
        await new Promise((resolve) => setImmediate(resolve)); // let the others run between read and write
        await writeFileAtomic(file, JSON.stringify({ n: n + 1 }));
      }, { waitMs: 60000 });
    }`;

  it('read-modify-write from four processes at once loses no change', async () => {
    const d = dir();
    const file = path.join(d, 'counter.json');
    fs.writeFileSync(file, JSON.stringify({ n: 0 }));
    const results = await Promise.all([1, 2, 3, 4].map(() => exitOf(node(counterScript, file, '25'))));
    for (const { code, stderr } of results) assert.equal(code, 0, stderr);
    assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).n, 100);
    assert.deepEqual(fs.readdirSync(d), ['counter.json'], 'the lock is released and nothing is left behind');
  });

  it('writers in one process queue up and lose no change', async () => {
    const d = dir();
    const file = path.join(d, 'counter.json');
    fs.writeFileSync(file, JSON.stringify({ n: 0 }));
    await Promise.all(Array.from({ length: 30 }, () => withFileLock(`${file}.lock`, async () => {
      const n = (JSON.parse(fs.readFileSync(file, 'utf8')) as { n: number }).n;
      await new Promise((resolve) => setImmediate(resolve));
      await writeFileAtomic(file, JSON.stringify({ n: n + 1 }));
    })));
    assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).n, 30);
  });

  it('a lock held by a dead pid is taken over at once, long before it is stale', async () => {
    const d = dir();
    const lockFile = path.join(d, 'tokens.json.lock');
    const gone = node('');
    assert.equal((await exitOf(gone)).code, 0);
    fs.writeFileSync(lockFile, JSON.stringify({ pid: gone.pid, host: os.hostname(), nonce: 'crashed' }));
    const ran = await withFileLock(lockFile, async () => 'ran', { staleMs: 10 * 60_000, waitMs: 5_000 });
    assert.equal(ran, 'ran');
    assert.equal(fs.existsSync(lockFile), false, 'released after use');
  });

  it('a lock held by a live process is waited for; past the wait the caller gets its own error', async () => {
    const d = dir();
    const lockFile = path.join(d, 'state.json.lock');
    const holder = node('setInterval(() => {}, 1000)');
    fs.writeFileSync(lockFile, JSON.stringify({ pid: holder.pid, host: os.hostname(), nonce: 'alive' }));
    let ran = false;
    await assert.rejects(
      withFileLock(lockFile, async () => { ran = true; }, { waitMs: 300, staleMs: 10 * 60_000, busy: (f) => new Error(`busy: ${path.basename(f)}`) }),
      /busy: state\.json\.lock/,
    );
    assert.equal(ran, false);
    assert.match(fs.readFileSync(lockFile, 'utf8'), /"alive"/, 'a live holder keeps its lock');
    holder.kill('SIGKILL');
    await once(holder, 'exit');
    assert.equal(await withFileLock(lockFile, async () => 'after', { waitMs: 5_000 }), 'after', 'taken over once its holder died');
  });

  it('an old lock of unknown origin (an empty file, another host) is taken over once stale', async () => {
    const d = dir();
    const lockFile = path.join(d, 'x.lock');
    fs.writeFileSync(lockFile, '');
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(lockFile, old, old);
    assert.equal(await withFileLock(lockFile, async () => 'ok', { staleMs: 10_000, waitMs: 2_000 }), 'ok');
    fs.writeFileSync(lockFile, JSON.stringify({ pid: 1, host: 'another-host', nonce: 'far' }));
    await assert.rejects(withFileLock(lockFile, async () => 'no', { staleMs: 10_000, waitMs: 200 }), /held by another process/, 'a fresh lock from another host is respected');
  });
});

describe('a state file shared by processes', () => {
  it('a broken file fails every read until it changes: no stale content in between, and no write replaces it', async () => {
    const d = dir();
    const file = path.join(d, 'tokens.json');
    let now = 0;
    const state = new StateFile(file, z.object({ names: z.array(z.string()) }), () => ({ names: [] as string[] }), { now: () => now, what: 'test file' });
    await state.update((data) => void data.names.push('alice'));
    assert.deepEqual((await state.read()).names, ['alice']);
    fs.writeFileSync(file, '{"names": [ oops');
    now += 1000;
    await assert.rejects(state.read(), /not a valid test file/);
    now += 1; // inside the check interval: before, the old content came back here
    await assert.rejects(state.read(), /not a valid test file/);
    await assert.rejects(state.update(() => undefined), (e: Error & { code?: string }) => e.code === 'corrupt');
    assert.equal(fs.readFileSync(file, 'utf8'), '{"names": [ oops');
    fs.writeFileSync(file, JSON.stringify({ names: ['bob'] }));
    now += 1000;
    assert.deepEqual((await state.read()).names, ['bob']);
  });
});
