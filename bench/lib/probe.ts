/**
 * A measuring hook for server children started with an IPC channel: the
 * harness asks for memory (optionally after a full GC, which needs
 * --expose-gc) and gets process.memoryUsage(). Idle unless asked.
 */
export interface ProbeRequest {
  type: 'probe';
  id: number;
  gc: boolean;
}

export interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export interface ProbeReply extends MemorySample {
  type: 'probe';
  id: number;
}

export function installProbe(): void {
  process.on('message', (message: ProbeRequest) => {
    if (message?.type !== 'probe') return;
    const collect = (globalThis as { gc?: () => void }).gc;
    if (message.gc && collect) {
      // Twice: the first pass may only free what the second then compacts.
      collect();
      collect();
    }
    const memory = process.memoryUsage();
    const reply: ProbeReply = {
      type: 'probe',
      id: message.id,
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      heapTotal: memory.heapTotal,
      external: memory.external,
      arrayBuffers: memory.arrayBuffers,
    };
    process.send?.(reply);
  });
}
