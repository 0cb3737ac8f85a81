export const roles = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof roles)[number];

const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export function roleAllows(held: Role, needed: Role): boolean {
  return rank[held] >= rank[needed];
}

/** Who did something: an API token, or a named background actor of the service itself. */
export type Actor =
  | { kind: 'token'; tokenId: string | null; name: string; role: Role }
  | { kind: 'system'; name: string };
