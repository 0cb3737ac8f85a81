import RE2 from 're2';

/**
 * Every broker pattern crossdock evaluates on names (policy patterns, link target selectors,
 * conflict check, import plan, observed policies) runs on RE2: time linear in the input, whatever
 * the pattern (`^(a+)+$` on a 255-character name costs microseconds, not the event loop).
 * RE2 has no backreferences or lookaround: such a pattern has no matcher here, and the write
 * path refuses it (patternProblem), the import skips it.
 *
 * One exception is understood: crossdock itself writes the intersection of several patterns as
 * `^(?=.*?(?:A))(?=.*?(?:B))...` (selectors.toPattern); that form is read back as "A and B and
 * ...", each part run on RE2.
 */
export interface NameMatcher {
  test(name: string): boolean;
}

const cacheLimit = 10_000;
const cache = new Map<string, NameMatcher | Error>();

/** What RE2 says about a pattern it cannot compile, or undefined when it can. */
export function linearRegexProblem(pattern: string): string | undefined {
  const m = compile(pattern);
  return m instanceof Error ? m.message : undefined;
}

/** A linear-time matcher for a broker pattern, or undefined when RE2 cannot run it. */
export function linearRegex(pattern: string): NameMatcher | undefined {
  const m = compile(pattern);
  return m instanceof Error ? undefined : m;
}

function compile(pattern: string): NameMatcher | Error {
  let m = cache.get(pattern);
  if (m) return m;
  const parts = conjunctionParts(pattern);
  try {
    if (parts) {
      const all = parts.map((p) => new RE2(p, 'u'));
      m = { test: (name) => all.every((re) => re.test(name)) };
    } else {
      const re = new RE2(pattern, 'u');
      m = { test: (name) => re.test(name) };
    }
  } catch (err) {
    m = new Error(engineMessage(err));
  }
  if (cache.size >= cacheLimit) cache.clear();
  cache.set(pattern, m);
  return m;
}

/** RE2's own words name the construct ("invalid perl operator: (?=", "invalid escape sequence: \\1"). */
function engineMessage(err: unknown): string {
  // Not `instanceof Error`: the addon's errors may come from another realm (e.g. under jest).
  const message = (err as { message?: unknown } | undefined)?.message;
  const raw = typeof message === 'string' ? message : String(err);
  return raw.slice(0, 120);
}

const conjunctionStart = '(?=.*?(?:';

/**
 * `^(?=.*?(?:A))(?=.*?(?:B))` -> [A, B] (unanchored, as a lookahead after `^` finds each part
 * anywhere); undefined for anything else. Each part is a complete group: brackets balance
 * outside character classes and escapes.
 */
export function conjunctionParts(pattern: string): string[] | undefined {
  if (!pattern.startsWith(`^${conjunctionStart}`)) return undefined;
  const parts: string[] = [];
  let i = 1;
  while (i < pattern.length) {
    if (!pattern.startsWith(conjunctionStart, i)) return undefined;
    const start = i + conjunctionStart.length;
    const end = closingBracket(pattern, start);
    if (end === undefined || pattern[end + 1] !== ')') return undefined;
    parts.push(pattern.slice(start, end));
    i = end + 2;
  }
  return parts.length > 0 ? parts : undefined;
}

/** Index of the `)` closing a group whose body starts at `from`, skipping escapes and classes. */
function closingBracket(s: string, from: number): number | undefined {
  let depth = 0;
  let inClass = false;
  for (let i = from; i < s.length; i++) {
    const ch = s[i];
    if (ch === '\\') {
      i += 1;
    } else if (inClass) {
      if (ch === ']') inClass = false;
    } else if (ch === '[') {
      inClass = true;
      if (s[i + 1] === '^') i += 1;
      if (s[i + 1] === ']') i += 1;
    } else if (ch === '(') {
      depth += 1;
    } else if (ch === ')') {
      if (depth === 0) return i;
      depth -= 1;
    }
  }
  return undefined;
}
