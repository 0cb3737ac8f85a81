import { linearRegex, type NameMatcher } from '../common/linear-regex';

/**
 * Which objects a key source covers, and how two covers intersect. Names and prefixes intersect
 * exactly; a regex is decided against the object names known to exist (observed or declared),
 * because regex intersection is not decidable in general. Intersections are written back as
 * broker patterns with lookaheads, which PCRE and JavaScript read the same way; crossdock's own
 * matcher reads that one form as a conjunction of its parts (RE2 has no lookahead).
 */
export type Selector =
  | { type: 'names'; names: string[] }
  | { type: 'prefix'; prefix: string }
  | { type: 'regex'; patterns: string[] };

export const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const never: NameMatcher = { test: () => false };

/**
 * Compiled once per pattern (a compile tests the same few patterns against every name), on RE2:
 * linear time whatever the pattern. Registry patterns passed patternProblem, so RE2 runs them;
 * anything else matches nothing rather than running on a backtracking engine.
 */
function regex(pattern: string): NameMatcher {
  return linearRegex(pattern) ?? never;
}

export function matches(sel: Selector, name: string): boolean {
  switch (sel.type) {
    case 'names':
      return sel.names.includes(name);
    case 'prefix':
      return name.startsWith(sel.prefix);
    case 'regex':
      return sel.patterns.every((p) => regex(p).test(name));
  }
}

/** Per list of known names (one compile reuses the same arrays): pattern -> names it matches. */
const matchSets = new WeakMap<readonly string[], Map<string, Set<string>>>();

function matching(known: readonly string[], pattern: string): Set<string> {
  let byPattern = matchSets.get(known);
  if (!byPattern) {
    byPattern = new Map();
    matchSets.set(known, byPattern);
  }
  let set = byPattern.get(pattern);
  if (!set) {
    const re = regex(pattern);
    set = new Set(known.filter((x) => re.test(x)));
    byPattern.set(pattern, set);
  }
  return set;
}

/** The intersection, or null when provably (or, for regexes, observably) empty. */
export function intersect(a: Selector, b: Selector, known: readonly string[]): Selector | null {
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
  // Two single patterns, the common case (a compile tries every pair of a vhost's policies):
  // the same answer as below without building anything for an empty intersection.
  if (
    a.type === 'regex' &&
    b.type === 'regex' &&
    a.patterns.length === 1 &&
    b.patterns.length === 1
  ) {
    const [pa, pb] = [a.patterns[0], b.patterns[0]];
    if (pa === pb) return { type: 'regex', patterns: [pa] };
    const [sa, sb] = [matching(known, pa), matching(known, pb)];
    const [small, big] = sa.size <= sb.size ? [sa, sb] : [sb, sa];
    for (const x of small) if (big.has(x)) return { type: 'regex', patterns: [pa, pb] };
    return null;
  }
  const patterns = [...toPatterns(a), ...toPatterns(b)];
  const sel: Selector = { type: 'regex', patterns: [...new Set(patterns)] };
  // The same pattern twice selects exactly what it selects once, named yet or not.
  if (sel.patterns.length === 1) return sel;
  // Each pattern is tested against the known names once; intersections are set lookups.
  const sets = sel.patterns.map((p) => matching(known, p)).sort((x, y) => x.size - y.size);
  const [smallest, ...rest] = sets;
  for (const x of smallest) if (rest.every((s) => s.has(x))) return sel;
  return null;
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
