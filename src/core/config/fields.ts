import { z } from 'zod/v4';

/** Node fires any timer longer than this after 1 ms: no duration may be longer. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A whole number in [min, max]; out of range or not a whole number is an error naming the range and the value. */
export function wholeNumber(min: number, max: number) {
  const message = (issue: { input?: unknown }) => `must be a whole number from ${min} to ${max}, got ${JSON.stringify(issue.input)}`;
  return z.number({ error: message }).int({ error: message }).min(min, { error: message }).max(max, { error: message });
}

/** A whole number in [min, max] with a default. */
export function integer(description: string, fallback: number, min: number, max: number) {
  return wholeNumber(min, max).default(fallback).describe(`${description} Default ${fallback}; ${min} to ${max}.`);
}

/** A duration in ms in [min, 2^31−1] (or a smaller max) with a default. */
export function duration(description: string, fallback: number, min = 0, max = MAX_TIMER_MS) {
  return integer(`${description} In ms.`, fallback, min, max);
}

/** One of the given words, with a default. */
export function oneOf<const Values extends readonly [string, ...string[]]>(description: string, values: Values, fallback: Values[number]) {
  const message = (issue: { input?: unknown }) =>
    `must be ${values.map((value) => `"${value}"`).join(' or ')}, got ${JSON.stringify(issue.input)}`;
  return z
    .enum(values, { error: message })
    .default(fallback as never)
    .describe(`${description} Default "${fallback}".`);
}

/** true or false, with a default. */
export function flag(description: string, fallback: boolean) {
  return z
    .boolean({ error: () => 'must be true or false' })
    .default(fallback)
    .describe(`${description} Default ${fallback}.`);
}

/**
 * An object that refuses fields it does not know, naming the field and the
 * ones it takes (`limits.maxTokenz: unknown field (expected one of ...)`);
 * absent, it is its fields' defaults.
 */
export function section<Shape extends z.core.$ZodLooseShape>(description: string, shape: Shape) {
  const known = Object.keys(shape).join(', ');
  return z
    .strictObject(shape, {
      error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown field (expected one of ${known})` : 'must be an object'),
    })
    .prefault({} as never)
    .describe(description);
}
