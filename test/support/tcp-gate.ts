// A loopback TCP relay in front of a port that a test can cut and heal: the network between one
// process (a worker) and Redis failing while everyone else still reaches Redis. Cut: every open
// connection is reset and new ones are dropped as soon as they arrive; heal: relayed again. Lose
// answers: requests still reach the target, its answers are dropped (a cut right after the target
// acted, before the client heard back).
import net from 'node:net';

export interface TcpGate {
  /** The port to connect to instead of the target's. */
  port: number;
  cut(): void;
  loseAnswers(): void;
  heal(): void;
  close(): Promise<void>;
}

export async function tcpGate(targetPort: number): Promise<TcpGate> {
  let open = true;
  let answering = true;
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = net.createServer((client) => {
    track(client);
    if (!open) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    track(upstream);
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => answering && client.write(chunk));
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut: () => {
      open = false;
      for (const socket of sockets) socket.resetAndDestroy();
    },
    loseAnswers: () => {
      answering = false;
    },
    heal: () => {
      open = true;
      answering = true;
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
