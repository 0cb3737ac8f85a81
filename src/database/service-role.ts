import type { DataSource } from 'typeorm';

/** Tables whose rows the service may add and read but never change or remove. */
export const appendOnlyTables = ['audit_events', 'audit_checkpoints'] as const;

/** The login role of a postgres:// URL (percent-decoded), or undefined without one. */
export function roleOfUrl(url: string): string | undefined {
  try {
    const user = new URL(url).username;
    return user ? decodeURIComponent(user) : undefined;
  } catch {
    return undefined;
  }
}

function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Run by the migration command as the owner role after the migrations: gives the service role
 * what it needs and nothing more. Registry tables: SELECT, INSERT, UPDATE, DELETE. Audit
 * tables: SELECT and INSERT only (no UPDATE, DELETE, TRUNCATE, REFERENCES or TRIGGER); as it
 * owns no table it cannot disable triggers or alter tables either. Idempotent, so tables that
 * later migrations add are covered on the next run.
 */
export async function grantServiceRole(ds: DataSource, serviceRole: string): Promise<void> {
  const [me] = (await ds.query(
    `SELECT current_user AS owner, pg_has_role($1, current_user, 'USAGE') AS member,
            (SELECT rolsuper FROM pg_roles WHERE rolname = $1) AS super`,
    [serviceRole],
  )) as { owner: string; member: boolean; super: boolean | null }[];
  if (me.super === null) throw new Error(`the service role ${serviceRole} does not exist`);
  if (me.owner === serviceRole || me.member || me.super) {
    throw new Error(
      `the service role ${serviceRole} is the owner role, a member of it or a superuser: it could erase audit rows`,
    );
  }
  const svc = ident(serviceRole);
  const audit = appendOnlyTables.join(', ');
  await ds.transaction(async (m) => {
    await m.query(`GRANT USAGE ON SCHEMA public TO ${svc}`);
    await m.query(`REVOKE CREATE ON SCHEMA public FROM ${svc}`);
    await m.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${svc}`);
    await m.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${svc}`);
    await m.query(`REVOKE ALL ON ${audit} FROM ${svc}`);
    await m.query(`REVOKE ALL ON ${audit} FROM PUBLIC`);
    await m.query(`GRANT SELECT, INSERT ON ${audit} TO ${svc}`);
    await m.query(`REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM ${svc}`);
  });
}
