import { afterTurn } from '../../../src/core/afterTurn';

describe('afterTurn', () => {
  afterEach(() => jest.restoreAllMocks());

  it('runs the jobs of a turn after it, in order, all from one setImmediate', async () => {
    const immediate = jest.spyOn(global, 'setImmediate');
    const ran: string[] = [];
    afterTurn(() => ran.push('a'));
    afterTurn(() => ran.push('b'));
    await Promise.resolve();
    queueMicrotask(() => ran.push('microtask'));
    afterTurn(() => ran.push('c'));
    expect(ran).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toEqual(['microtask', 'a', 'b', 'c']);
    // Two: the jobs' one and this test's own.
    expect(immediate).toHaveBeenCalledTimes(2);
    // A job queued by a job runs in a later turn.
    afterTurn(() => afterTurn(() => ran.push('d')));
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).not.toContain('d');
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran.at(-1)).toBe('d');
  });

  it('turns a job that throws into a process warning and still runs the jobs after it', async () => {
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const ran: string[] = [];
    afterTurn(() => {
      throw new Error('a bug in a job');
    });
    afterTurn(() => ran.push('after'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toEqual(['after']);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0][0])).toContain('a bug in a job');
  });
});
