// The process layer: one implementation per OS behind one interface (types.ts). The engine calls
// `processHost` and never asks which OS it runs on.
import { darwinHost } from './darwin.js';
import { linuxHost } from './linux.js';
import { win32Host } from './win32.js';
import type { ProcessHost } from './types.js';

export function hostFor(platform: NodeJS.Platform): ProcessHost {
  if (platform === 'linux') return linuxHost();
  if (platform === 'win32') return win32Host();
  // macOS, and the BSDs, which share its ps(1).
  return darwinHost(undefined, undefined, platform);
}

export const processHost: ProcessHost = hostFor(process.platform);

export { RUNNER_TITLE } from './types.js';
export type { FoundProcess, JobProcesses, ProcessHost, StopHow } from './types.js';
