import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** The shared server used to create per-run databases (trust auth on this machine). */
export const adminUrl =
  process.env.CROSSDOCK_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export function databaseUrl(name: string, base = adminUrl): string {
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database whose name is unique to this run; returns its URL. */
export async function createDatabase(
  prefix = 'crossdock_test',
): Promise<{ name: string; url: string }> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  await withClient(adminUrl, (c) => c.query(`CREATE DATABASE "${name}"`));
  return { name, url: databaseUrl(name) };
}

export async function dropDatabase(name: string): Promise<void> {
  await withClient(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}

/** A fresh database of its own, migrated: for tests that damage or stop what they use. */
export async function createMigratedDatabase(
  prefix = 'crossdock_iso',
): Promise<{ name: string; url: string }> {
  const { runMigrations } = await import('../../src/database/migrate');
  const db = await createDatabase(prefix);
  await runMigrations(db.url);
  return db;
}

/** The URL of `base` logged in as `role` instead. */
export function urlAs(base: string, role: string): string {
  const url = new URL(base);
  url.username = encodeURIComponent(role);
  url.password = '';
  return url.toString();
}

/**
 * The production two-role layout for a database: an owner role (`ownerUrl`, here the admin)
 * runs the migrations and grants a new login role, the service role, registry access and
 * append-only audit access. Returns the service role's URL.
 */
export async function createServiceRole(
  db: { name: string; url: string },
  role = `${db.name}_svc`,
): Promise<{ role: string; url: string }> {
  await withClient(adminUrl, (c) => c.query(`CREATE ROLE "${role}" LOGIN`));
  return { role, url: urlAs(db.url, role) };
}

export async function dropRole(role: string): Promise<void> {
  await withClient(adminUrl, (c) => c.query(`DROP ROLE IF EXISTS "${role}"`));
}
