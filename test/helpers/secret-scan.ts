import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { SecretBox } from '../../src/common/crypto/secret-box';
import { redactString } from '../../src/common/logging/redact';
import { loadSites } from './sites';

/** A secret the suite knows, and a name to report it by (never the value). */
export interface KnownSecret {
  label: string;
  value: string;
}

export interface Finding {
  secret: string;
  where: string;
}

/** Secrets shorter than this would match ordinary text in some encoding. */
const minLength = 8;

/**
 * Every way a secret may show up in text that a broker, proxy or serializer produced: plain,
 * JSON-escaped, percent-encoded, base64/base64url on its own, and base64 of any longer string
 * that contains it (a `Basic` header of `user:secret`): for each of the three byte alignments,
 * the part of the encoding that depends on the secret alone.
 */
export function secretForms(value: string): string[] {
  const bytes = Buffer.from(value);
  const forms = new Set([
    value,
    JSON.stringify(value).slice(1, -1),
    JSON.stringify(JSON.stringify(value)).slice(3, -3),
    encodeURIComponent(value),
    bytes.toString('base64'),
    bytes.toString('base64url'),
  ]);
  for (const shift of [0, 1, 2]) {
    const padded = Buffer.concat([Buffer.alloc(shift), bytes]);
    const full = Math.floor(padded.length / 3) * 4;
    const skip = [0, 2, 3][shift];
    for (const enc of ['base64', 'base64url'] as const) {
      const inner = padded.toString(enc).slice(skip, full);
      if (inner.length >= minLength) forms.add(inner);
    }
  }
  return [...forms].filter((f) => f.length >= minLength);
}

function needlesOf(secrets: KnownSecret[]): Map<string, string> {
  const byForm = new Map<string, string>();
  for (const s of secrets) {
    if (s.value.length < minLength) continue;
    for (const f of secretForms(s.value)) byForm.set(f, s.label);
  }
  return byForm;
}

/**
 * Fixed-string search of every file under `dirs` (grep -F: one pass, hundreds of MB a second),
 * for every form of every secret. Reports which secret in which file, never the value.
 */
export function scanFiles(dirs: string[], secrets: KnownSecret[]): Finding[] {
  const byForm = needlesOf(secrets);
  const present = dirs.filter((d) => existsSync(d));
  if (byForm.size === 0 || present.length === 0) return [];
  const tmp = mkdtempSync(join(tmpdir(), 'secret-scan-'));
  try {
    const patterns = join(tmp, 'patterns');
    writeFileSync(patterns, `${[...byForm.keys()].join('\n')}\n`, { mode: 0o600 });
    const res = spawnSync('grep', ['-rFoHI', '-f', patterns, ...present], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    if (res.status !== 0 && res.status !== 1) {
      throw new Error(`secret scan: grep failed (${res.status}): ${res.stderr}`);
    }
    const findings = new Map<string, Finding>();
    for (const line of res.stdout.split('\n')) {
      if (!line) continue;
      // grep prints file:match; the match is one of our forms, so find which by suffix.
      for (const [form, label] of byForm) {
        if (line.endsWith(`:${form}`)) {
          const where = line.slice(0, line.length - form.length - 1);
          findings.set(`${label} ${where}`, { secret: label, where });
          break;
        }
      }
    }
    return [...findings.values()];
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Looks for every form of every secret in named texts (database rows, responses). */
export function scanTexts(texts: { where: string; text: string }[], secrets: KnownSecret[]) {
  const byForm = needlesOf(secrets);
  const findings: Finding[] = [];
  for (const { where, text } of texts) {
    const hit = new Set<string>();
    for (const [form, label] of byForm) if (!hit.has(label) && text.includes(form)) hit.add(label);
    for (const label of hit) findings.push({ secret: label, where });
  }
  return findings;
}

/**
 * Stored records that every write path scrubs: a credential shape left in them (a URI with a
 * password, a Basic header, a password hash) means a sink skipped the redactor.
 */
export function unredactedShapes(texts: { where: string; text: string }[]): Finding[] {
  const findings: Finding[] = [];
  for (const { where, text } of texts) {
    if (redactString(text) !== text) findings.push({ secret: 'credential shape', where });
  }
  return findings;
}

/** Tables holding what the service wrote from broker replies and requests. */
const scrubbedColumns: [string, string, string][] = [
  [
    'reconcile_runs',
    'id',
    `concat_ws(' ', summary::text, operations::text, findings::text, error)`,
  ],
  ['audit_events', 'seq', 'payload'],
  ['clusters', 'id', `coalesce(last_observation::text, '')`],
];

/**
 * The suite's secrets as the test database knows them: cluster admin passwords and link-user
 * passwords, decrypted with the run's key (a row sealed with another key is skipped).
 */
export async function storedSecrets(c: Client, encryptionKey: string): Promise<KnownSecret[]> {
  const box = new SecretBox(encryptionKey);
  const rows = (
    await c.query(
      `SELECT id, name, admin_password_enc, link_user_password_enc, link_user_b_password_enc FROM clusters`,
    )
  ).rows as {
    id: string;
    name: string;
    admin_password_enc: string;
    link_user_password_enc: string | null;
    link_user_b_password_enc: string | null;
  }[];
  const out: KnownSecret[] = [];
  const tryOpen = (label: string, sealed: string | null, aad: string) => {
    if (!sealed) return;
    try {
      out.push({ label, value: box.decrypt(sealed, aad) });
    } catch {
      // sealed with a key of another test (key rotation): not ours to check
    }
  };
  for (const r of rows) {
    tryOpen(`admin password of cluster ${r.name}`, r.admin_password_enc, r.id);
    tryOpen(
      `link-user password of cluster ${r.name}`,
      r.link_user_password_enc,
      `link-user:${r.id}`,
    );
    tryOpen(
      `link-user (b) password of cluster ${r.name}`,
      r.link_user_b_password_enc,
      `link-user:${r.id}:b`,
    );
  }
  return out;
}

/**
 * Scans a test database: every table's rows as text for the known secrets in every form, and
 * the scrubbed records (runs, audit events, observations) for credential shapes as well.
 */
export async function scanDatabase(url: string, secrets: KnownSecret[]): Promise<Finding[]> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    const all = secrets;
    const tables = (
      await c.query(
        `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'probe_%'`,
      )
    ).rows as { tablename: string }[];
    const texts: { where: string; text: string }[] = [];
    for (const { tablename } of tables) {
      // Encrypted columns hold ciphertext only; everything else is read as the row's text.
      const rows = (await c.query(`SELECT x::text AS row FROM "${tablename}" x`)).rows as {
        row: string;
      }[];
      texts.push({ where: `table ${tablename}`, text: rows.map((r) => r.row).join('\n') });
    }
    const shapes: { where: string; text: string }[] = [];
    for (const [table, id, expr] of scrubbedColumns) {
      const rows = (await c.query(`SELECT ${id}::text AS id, ${expr} AS text FROM ${table}`))
        .rows as { id: string; text: string }[];
      for (const r of rows) shapes.push({ where: `${table} ${r.id}`, text: r.text });
    }
    return [...scanTexts(texts, all), ...unredactedShapes(shapes)];
  } finally {
    await c.end();
  }
}

/** The default password test helpers give clusters (test/helpers/api.ts clusterBody). */
export const fixturePassword = 'Sup3r-S3cret-Pa55';

/**
 * Every secret the suite knows: the run's keys and bootstrap token, the local sites' admin
 * password, the fixture password, and every credential stored (encrypted) in the test database.
 */
export async function suiteSecrets(dbUrl?: string): Promise<KnownSecret[]> {
  const env = process.env;
  const out: KnownSecret[] = [{ label: 'fixture cluster password', value: fixturePassword }];
  const fromEnv: [string, string | undefined][] = [
    ['bootstrap admin token', env.CROSSDOCK_BOOTSTRAP_ADMIN_TOKEN],
    ['encryption key', env.CROSSDOCK_ENCRYPTION_KEY],
    ['audit HMAC key', env.CROSSDOCK_AUDIT_HMAC_KEY],
  ];
  for (const [label, value] of fromEnv) if (value) out.push({ label, value });
  if (env.CROSSDOCK_TEST_SITES_STATE && existsSync(env.CROSSDOCK_TEST_SITES_STATE)) {
    out.push({ label: 'local sites admin password', value: loadSites().admin.password });
  }
  if (dbUrl && env.CROSSDOCK_ENCRYPTION_KEY) {
    const c = new Client({ connectionString: dbUrl, connectionTimeoutMillis: 5000 });
    await c.connect();
    try {
      out.push(...(await storedSecrets(c, env.CROSSDOCK_ENCRYPTION_KEY)));
    } finally {
      await c.end();
    }
  }
  return out;
}

/**
 * The suite-wide check run by the e2e global teardown: the known secrets in any form in the log
 * directory (logs of every app and service process, and every response the test apps sent) and
 * in the test database; credential shapes in runs, audit events and observations.
 */
export async function scanSuite(dbUrl: string, logDirs: string[]): Promise<Finding[]> {
  const secrets = await suiteSecrets(dbUrl);
  return [...scanFiles(logDirs, secrets), ...(await scanDatabase(dbUrl, secrets))];
}
