// Where each file of a job lives. Only a validated job id may build a path (see ids.ts).
import path from 'node:path';
import { assertJobId } from './ids.js';

const JOB_FILES = {
  spec: 'spec.json',
  prompt: 'prompt.txt',
  runner: 'runner.json',
  out: 'out.jsonl',
  err: 'err.log',
  exit: 'exit.json',
} as const;

export interface JobPaths {
  dir: string;
  spec: string;
  prompt: string;
  runner: string;
  out: string;
  err: string;
  exit: string;
}

export function jobPaths(jobsDir: string, jobId: string): JobPaths {
  const dir = path.join(jobsDir, assertJobId(jobId));
  return {
    dir,
    spec: path.join(dir, JOB_FILES.spec),
    prompt: path.join(dir, JOB_FILES.prompt),
    runner: path.join(dir, JOB_FILES.runner),
    out: path.join(dir, JOB_FILES.out),
    err: path.join(dir, JOB_FILES.err),
    exit: path.join(dir, JOB_FILES.exit),
  };
}
