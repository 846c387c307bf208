import net from "node:net";
import { WebSocketServer } from "ws";

/**
 * The WebSocket-to-TCP proxy the Neon serverless driver speaks to (Neon runs one in production).
 * Locally it lets the Worker reach a plain Postgres; only the listed "host:port" targets are allowed,
 * so it is never an open proxy.
 */
export function startNeonBridge(opts: { port: number; host?: string; allowed: string[] }) {
  const wss = new WebSocketServer({ host: opts.host ?? "127.0.0.1", port: opts.port, path: "/v1" });
  wss.on("connection", (ws, req) => {
    const address = new URL(req.url ?? "", "http://bridge").searchParams.get("address") ?? "";
    const [host = "", portText] = address.split(":");
    if (!opts.allowed.includes(address)) {
      ws.close(1008, "address not allowed");
      return;
    }
    const socket = net.connect({ host, port: Number(portText) });
    const pending: Buffer[] = [];
    socket.on("connect", () => {
      for (const chunk of pending.splice(0)) socket.write(chunk);
    });
    socket.on("data", (data) => ws.send(data));
    socket.on("close", () => ws.close());
    socket.on("error", () => ws.close());
    ws.on("message", (data: Buffer) => {
      if (socket.connecting) pending.push(data);
      else socket.write(data);
    });
    ws.on("close", () => socket.destroy());
    ws.on("error", () => socket.destroy());
  });
  return {
    url: `127.0.0.1:${opts.port}/v1`,
    ready: new Promise<void>((resolve, reject) => {
      wss.once("listening", resolve);
      wss.once("error", reject);
    }),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => resolve());
      }),
  };
}
