/** A small seeded PRNG (a linear congruential generator), so randomised test cases are the same every run. */
export function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}
