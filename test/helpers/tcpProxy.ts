import net, { type AddressInfo } from 'node:net';

export interface TcpProxyOptions {
  /** Cut a connection when neither side sent a byte for this long (an idle-timeout proxy). Default: never. */
  idleTimeoutMs?: number;
}

/**
 * A loopback TCP proxy in front of a server, so a test can cut connections
 * for real (the client sees a reset, not a polite GOAWAY) or play an
 * idle-timeout proxy.
 */
export class TcpProxy {
  /** Connections accepted so far. */
  accepted = 0;
  /** Connections cut for being idle. */
  idleCuts = 0;
  private readonly sockets = new Set<net.Socket>();
  private readonly server: net.Server;

  private constructor(
    private targetPort: number,
    private readonly options: TcpProxyOptions,
  ) {
    this.server = net.createServer((client) => this.accept(client));
  }

  static async start(targetPort: number, options: TcpProxyOptions = {}, listenPort = 0): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort, options);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(listenPort, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Points new connections at another port (a restarted server). */
  retarget(port: number): void {
    this.targetPort = port;
  }

  /** Destroys every open connection at once, both sides. */
  sever(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  /**
   * Stops forwarding on every open connection without closing it: a peer
   * that went silent (a dead host, a black-holed route). New connections
   * still flow.
   */
  freeze(): void {
    for (const socket of this.sockets) {
      socket.unpipe();
      socket.pause();
    }
  }

  async close(): Promise<void> {
    this.sever();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.accepted++;
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    this.sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
    const idleMs = this.options.idleTimeoutMs;
    if (idleMs !== undefined) {
      let lastByteMs = Date.now();
      const touch = () => (lastByteMs = Date.now());
      client.on('data', touch);
      upstream.on('data', touch);
      const timer = setInterval(
        () => {
          if (Date.now() - lastByteMs >= idleMs) {
            this.idleCuts++;
            clearInterval(timer);
            drop();
          }
        },
        Math.max(5, Math.floor(idleMs / 10)),
      );
      client.on('close', () => clearInterval(timer));
    }
  }
}
