import { randomBytes } from "node:crypto";
import path from "node:path";
import readline from "node:readline";
import type { AuthTokens } from "@streamlet/shared";
import { ApiError, apiClient } from "../stack/client.ts";
import { errorCode } from "./errors.ts";
import {
  configDir,
  hostFileName,
  isLoopback,
  readJson,
  removeFile,
  stackDataDir,
  writePrivateJson,
} from "./files.ts";

export type Client = ReturnType<typeof apiClient>;

export interface Session {
  client: Client;
  email: string;
  /** How the CLI signed in, for the first line it prints. */
  how: string;
  /** A current access token (refreshed in the background before it expires). */
  token(): string;
  /** Stops the background refresh. */
  close(): void;
}

interface SavedLogin {
  edge: string;
  email: string;
  refreshToken: string;
}

interface DevAccount {
  edge: string;
  email: string;
  password: string;
}

/** The saved login of an edge: ~/.config/streamlet/<edge-host>.json (mode 0600). */
export const savedLoginFile = (edge: string, env: NodeJS.ProcessEnv) =>
  path.join(configDir(env), `${hostFileName(edge)}.json`);

/** The local development account of the stack whose data folder this is (mode 0600). */
export const devAccountFile = (env: NodeJS.ProcessEnv) => path.join(stackDataDir(env), "cli-account.json");

/**
 * Signs in, first that applies: STREAMLET_EMAIL + STREAMLET_PASSWORD (the login is then saved), the saved
 * login of this edge, and on a loopback edge only, the local development account (created on first use).
 * `interactive` asks for the email and password instead of giving up (for --login).
 */
export async function signIn(edge: string, env: NodeJS.ProcessEnv, interactive = false): Promise<Session> {
  const client = apiClient(edge);
  const savedFile = savedLoginFile(edge, env);
  const save = (tokens: AuthTokens) =>
    writePrivateJson(savedFile, {
      edge,
      email: tokens.user.email,
      refreshToken: tokens.refreshToken,
    } satisfies SavedLogin);

  if (env.STREAMLET_EMAIL && env.STREAMLET_PASSWORD) {
    const tokens = await client.login(env.STREAMLET_EMAIL, env.STREAMLET_PASSWORD);
    save(tokens);
    return session(client, tokens, "STREAMLET_EMAIL", save);
  }
  if (interactive) {
    const email = env.STREAMLET_EMAIL || (await ask("email: "));
    const tokens = await client.login(email, await ask("password: ", true));
    save(tokens);
    return session(client, tokens, `the login saved in ${savedFile}`, save);
  }

  const saved = readJson(savedFile) as SavedLogin | null;
  if (saved?.refreshToken) {
    try {
      const tokens = await client.refresh(saved.refreshToken);
      save(tokens);
      return session(client, tokens, `the login saved in ${savedFile}`, save);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
      removeFile(savedFile);
      throw new Error(
        `the saved login for ${edge} no longer works (${errorCode(error)}): sign in again with ` +
          "`npm run upload -- --login`, or set STREAMLET_EMAIL and STREAMLET_PASSWORD",
      );
    }
  }

  if (!isLoopback(edge)) {
    throw new Error(
      `not signed in to ${edge}: set STREAMLET_EMAIL and STREAMLET_PASSWORD, or run \`npm run upload -- --login\``,
    );
  }
  return devAccountSession(client, edge, env);
}

/** Signs in to the local development account, creating it (random password) when there is none yet. */
async function devAccountSession(client: Client, edge: string, env: NodeJS.ProcessEnv): Promise<Session> {
  const file = devAccountFile(env);
  const account = readJson(file) as DevAccount | null;
  if (account?.email && account.password) {
    try {
      const tokens = await client.login(account.email, account.password);
      return session(client, tokens, `the local development account (${file})`);
    } catch (error) {
      // The stack was reset under the file (a new database): make a new account.
      if (errorCode(error) !== "invalid_credentials") throw error;
    }
  }
  const created: DevAccount = {
    edge,
    email: `cli-${randomBytes(6).toString("hex")}@example.com`,
    password: randomBytes(18).toString("base64url"),
  };
  const tokens = await client.signup(created.email, created.password);
  writePrivateJson(file, created);
  return session(client, tokens, `a new local development account (${file})`);
}

/** Keeps the access token fresh: refreshed a minute before it expires, the new refresh token saved. */
function session(
  client: Client,
  first: AuthTokens,
  how: string,
  persist?: (tokens: AuthTokens) => void,
): Session {
  let refreshToken = first.refreshToken;
  let timer: NodeJS.Timeout | undefined;
  const schedule = (expiresIn: number) => {
    timer = setTimeout(refresh, Math.max(expiresIn - 60, 5) * 1000);
    timer.unref();
  };
  const refresh = async () => {
    try {
      const tokens = await client.refresh(refreshToken);
      refreshToken = tokens.refreshToken;
      persist?.(tokens);
      schedule(tokens.expiresIn);
    } catch {
      schedule(65); // try again shortly; requests fail with a clear 401 meanwhile
    }
  };
  schedule(first.expiresIn);
  return {
    client,
    email: first.user.email,
    how,
    token: () => client.accessToken(),
    close: () => clearTimeout(timer),
  };
}

/** Asks on the terminal; a secret answer is not echoed. */
async function ask(question: string, secret = false): Promise<string> {
  if (!process.stdin.isTTY)
    throw new Error("no terminal to ask on: set STREAMLET_EMAIL and STREAMLET_PASSWORD");
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const output = rl as unknown as { _writeToOutput(text: string): void };
  const write = output._writeToOutput.bind(rl);
  if (secret) output._writeToOutput = (text) => write(text.startsWith(question) ? question : "");
  try {
    return (await new Promise<string>((resolve) => rl.question(question, resolve))).trim();
  } finally {
    if (secret) process.stderr.write("\n");
    rl.close();
  }
}
