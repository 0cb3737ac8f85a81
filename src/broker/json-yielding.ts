import { setImmediate as yieldToLoop } from 'node:timers/promises';

export type ParseResult =
  { type: 'ok'; value: unknown } | { type: 'error'; problem: 'invalid-json' | 'truncated' };

/** Never echoes the parser's message: V8 quotes the offending input, which may hold secrets. */
export function parseJson(text: string): ParseResult {
  if (text.trim() === '') return { type: 'ok', value: undefined };
  try {
    return { type: 'ok', value: JSON.parse(text) as unknown };
  } catch (err) {
    const message = err instanceof Error ? err.message : '';
    return {
      type: 'error',
      problem: /end of JSON input|Unterminated/i.test(message) ? 'truncated' : 'invalid-json',
    };
  }
}

const isSpace = (c: number) => c === 32 || c === 10 || c === 13 || c === 9;

/**
 * Parses a large JSON answer without holding the event loop: a top-level array (every listing of
 * the management API) is split into its elements by a scanner that tracks strings and nesting,
 * each element is parsed on its own, and the loop gets a turn every `sliceMs`. Anything else is
 * parsed in one go (its size is bounded by the caller).
 */
export async function parseJsonYielding(text: string, sliceMs = 10): Promise<ParseResult> {
  let i = 0;
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) !== 91) return parseJson(text);
  const out: unknown[] = [];
  let depth = 0;
  let inString = false;
  let escaped = false;
  let start = -1;
  let commas = 0;
  let sliceStarted = performance.now();
  const push = (end: number): boolean => {
    const r = parseJson(text.slice(start, end));
    if (r.type === 'error' || r.value === undefined) return false;
    out.push(r.value);
    start = -1;
    return true;
  };
  for (i += 1; i < text.length; i++) {
    if ((i & 0xfff) === 0 && performance.now() - sliceStarted > sliceMs) {
      await yieldToLoop();
      sliceStarted = performance.now();
    }
    const c = text.charCodeAt(i);
    if (inString) {
      if (escaped) escaped = false;
      else if (c === 92) escaped = true;
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 34) {
      inString = true;
      if (start < 0) start = i;
    } else if (c === 123 || c === 91) {
      if (start < 0) start = i;
      depth += 1;
    } else if (c === 125 || c === 93) {
      if (depth > 0) {
        depth -= 1;
        continue;
      }
      if (c !== 93) return { type: 'error', problem: 'invalid-json' };
      if (start >= 0 ? !push(i) : commas > 0) return { type: 'error', problem: 'invalid-json' };
      for (i += 1; i < text.length; i++)
        if (!isSpace(text.charCodeAt(i))) return { type: 'error', problem: 'invalid-json' };
      return { type: 'ok', value: out };
    } else if (c === 44 && depth === 0) {
      if (start < 0 || !push(i)) return { type: 'error', problem: 'invalid-json' };
      commas += 1;
    } else if (start < 0 && !isSpace(c)) {
      start = i;
    }
  }
  return { type: 'error', problem: 'truncated' };
}
