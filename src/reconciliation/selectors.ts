/**
 * Which objects a key source covers, and how two covers intersect. Names and prefixes intersect
 * exactly; a regex is decided against the object names known to exist (observed or declared),
 * because regex intersection is not decidable in general. Intersections are written back as
 * broker patterns with lookaheads, which PCRE and JavaScript read the same way.
 */
export type Selector =
  | { type: 'names'; names: string[] }
  | { type: 'prefix'; prefix: string }
  | { type: 'regex'; patterns: string[] };

export const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function matches(sel: Selector, name: string): boolean {
  switch (sel.type) {
    case 'names':
      return sel.names.includes(name);
    case 'prefix':
      return name.startsWith(sel.prefix);
    case 'regex':
      return sel.patterns.every((p) => new RegExp(p).test(name));
  }
}

/** The intersection, or null when provably (or, for regexes, observably) empty. */
export function intersect(a: Selector, b: Selector, known: string[]): Selector | null {
  if (a.type === 'names' || b.type === 'names') {
    const [n, other] = a.type === 'names' ? [a, b] : [b as Extract<Selector, { type: 'names' }>, a];
    const names = n.names.filter((x) => matches(other, x));
    return names.length ? { type: 'names', names } : null;
  }
  if (a.type === 'prefix' && b.type === 'prefix') {
    if (a.prefix.startsWith(b.prefix)) return a;
    if (b.prefix.startsWith(a.prefix)) return b;
    return null;
  }
  const patterns = [...toPatterns(a), ...toPatterns(b)];
  const sel: Selector = { type: 'regex', patterns: [...new Set(patterns)] };
  return known.some((x) => matches(sel, x)) ? sel : null;
}

function toPatterns(s: Selector): string[] {
  if (s.type === 'regex') return s.patterns;
  if (s.type === 'prefix') return [`^${escapeRegex(s.prefix)}`];
  return [`^(?:${s.names.map(escapeRegex).join('|')})$`];
}

/** One broker pattern for a selector. */
export function toPattern(s: Selector): string {
  if (s.type === 'names') return `^(?:${[...s.names].sort().map(escapeRegex).join('|')})$`;
  if (s.type === 'prefix') return `^${escapeRegex(s.prefix)}`;
  if (s.patterns.length === 1) return s.patterns[0];
  return `^${s.patterns.map((p) => `(?=.*?(?:${p}))`).join('')}`;
}
