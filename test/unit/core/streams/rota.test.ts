import { Rota } from '../../../../src/core/streams/redis/rota';

/** Every member's visits over `rounds` rounds, by turn number. */
function visits(rota: Rota<number>, slices: number, rounds: number): Map<number, number[]> {
  const seen = new Map<number, number[]>();
  for (let turn = 0; turn < slices * rounds; turn++) {
    for (const member of rota.turn()) seen.set(member, [...(seen.get(member) ?? []), turn]);
  }
  return seen;
}

describe('Rota', () => {
  it('visits every member once a round, always in the same turn of it, and no turn holds more than its share', () => {
    const slices = 7;
    const rota = new Rota<number>(slices);
    for (let member = 0; member < 100; member++) rota.add(member);
    const seen = visits(rota, slices, 3);
    expect([...seen.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, member) => member));
    for (const turns of seen.values()) {
      expect(turns).toHaveLength(3);
      expect(turns[1] - turns[0]).toBe(slices);
      expect(turns[2] - turns[1]).toBe(slices);
    }
    const perTurn = Array.from({ length: slices }, () => [...rota.turn()].length);
    expect(Math.max(...perTurn) - Math.min(...perTurn)).toBeLessThanOrEqual(1);
    expect(perTurn.reduce((sum, count) => sum + count, 0)).toBe(100);
  });

  it('adds a member once, visits a new one within a round, and never visits a deleted one', () => {
    const rota = new Rota<number>(4);
    rota.add(1);
    rota.add(1);
    expect(rota.size).toBe(1);
    rota.turn();
    rota.add(2);
    const firstRound = [0, 1, 2, 3].flatMap(() => [...rota.turn()]);
    expect(firstRound.sort()).toEqual([1, 2]);
    rota.delete(1);
    expect(rota.has(1)).toBe(false);
    expect([0, 1, 2, 3].flatMap(() => [...rota.turn()])).toEqual([2]);
    rota.delete(2);
    expect(rota.size).toBe(0);
    expect([0, 1, 2, 3].flatMap(() => [...rota.turn()])).toEqual([]);
  });

  it('skips a member deleted while its turn is being visited', () => {
    const rota = new Rota<number>(1);
    for (const member of [1, 2, 3]) rota.add(member);
    const visited: number[] = [];
    for (const member of rota.turn()) {
      visited.push(member);
      if (member === 1) rota.delete(2);
    }
    expect(visited).toEqual([1, 3]);
  });

  it('refuses a slice count that is not a whole number from 1', () => {
    expect(() => new Rota(0)).toThrow('sliceCount: must be a whole number from 1, got 0');
    expect(() => new Rota(1.5)).toThrow('sliceCount');
  });
});
