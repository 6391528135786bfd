/**
 * Members spread evenly over a fixed number of slices, for a periodic task
 * that visits one slice a turn: every member is visited once a round (as
 * many turns as slices), always in the same turn of the round, and no turn
 * holds much more than its share. The redis store renews its leases and
 * refreshes its presence this way, so that a thousand streams do not send a
 * thousand scripts in one burst, in front of every append made at that
 * moment on the same connection.
 */
export class Rota<T> {
  private readonly slices: Array<Set<T>>;
  private readonly sliceOf = new Map<T, Set<T>>();
  /** The slice the next member joins: new members go round, so the slices stay within one of each other. */
  private joining = 0;
  /** The slice the next turn visits. */
  private turning = 0;

  constructor(sliceCount: number) {
    if (!Number.isInteger(sliceCount) || sliceCount < 1)
      throw new RangeError(`sliceCount: must be a whole number from 1, got ${sliceCount}`);
    this.slices = Array.from({ length: sliceCount }, () => new Set<T>());
  }

  get size(): number {
    return this.sliceOf.size;
  }

  has(member: T): boolean {
    return this.sliceOf.has(member);
  }

  /** Adds a member (once); it is first visited within a round. */
  add(member: T): void {
    if (this.sliceOf.has(member)) return;
    const slice = this.slices[this.joining];
    this.joining = (this.joining + 1) % this.slices.length;
    slice.add(member);
    this.sliceOf.set(member, slice);
  }

  delete(member: T): void {
    this.sliceOf.get(member)?.delete(member);
    this.sliceOf.delete(member);
  }

  /** The members this turn visits (a live view: members deleted while it is iterated are skipped). */
  turn(): Iterable<T> {
    const slice = this.slices[this.turning];
    this.turning = (this.turning + 1) % this.slices.length;
    return slice;
  }
}
