import { TtftSamples } from '../../../src/core/liveStreams';

describe('TtftSamples', () => {
  it('keeps the newest samples up to its capacity, oldest first, across many wraps', () => {
    const samples = new TtftSamples(5);
    for (let index = 0; index < 23; index++) samples.add(index, index * 10);
    expect([...samples.since(0)]).toEqual([180, 190, 200, 210, 220]);
  });

  it('drops the samples taken before the window, and stays empty-safe', () => {
    const samples = new TtftSamples(4);
    expect([...samples.since(0)]).toEqual([]);
    samples.add(1, 5);
    samples.add(2, 6);
    samples.add(3, 7);
    expect([...samples.since(2)]).toEqual([6, 7]);
    // Dropped for good: a wider window does not bring them back.
    expect([...samples.since(0)]).toEqual([6, 7]);
    samples.add(4, 8);
    samples.add(5, 9);
    samples.add(6, 10);
    expect([...samples.since(0)]).toEqual([7, 8, 9, 10]);
    expect([...samples.since(100)]).toEqual([]);
  });
});
