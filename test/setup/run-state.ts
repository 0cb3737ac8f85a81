import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** What global setup created, so global teardown removes exactly that. */
export interface RunState {
  databaseName?: string;
  /** The service role created for the run's database (dropped with it). */
  serviceRole?: string;
  sitesDir?: string;
  /** The port block claimed for the sites (released by global teardown). */
  portBlock?: number;
  startedSites: boolean;
}

const root = join(__dirname, '..', '..');
export const repoRoot = root;
const file = join(root, '.local', `test-run-${process.pid}.json`);

export function saveRunState(state: RunState): void {
  mkdirSync(join(root, '.local'), { recursive: true });
  writeFileSync(file, JSON.stringify(state));
}

export function loadRunState(): RunState {
  return JSON.parse(readFileSync(file, 'utf8')) as RunState;
}
