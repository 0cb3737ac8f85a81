export const roles = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof roles)[number];

const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export function roleAllows(held: Role, needed: Role): boolean {
  return rank[held] >= rank[needed];
}

/**
 * Names the service itself acts under (audit actors): a token may not carry one, so an event
 * by a token can never pass for the service's own. Compared case-insensitively.
 */
export const reservedActorNames = [
  'crossdock',
  'bootstrap-admin',
  'reconciler',
  'probes',
  'overflow',
  'system',
] as const;

export function isReservedActorName(name: string): boolean {
  const n = name.trim().toLowerCase();
  return (reservedActorNames as readonly string[]).includes(n);
}

/** Who did something: an API token, or a named background actor of the service itself. */
export type Actor =
  | { kind: 'token'; tokenId: string | null; name: string; role: Role }
  | { kind: 'system'; name: string };
