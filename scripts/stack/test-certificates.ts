import { writeFileSync } from "node:fs";
import path from "node:path";
import { run } from "./proc.ts";

export interface TestCertificates {
  /** The throwaway CA's certificate (PEM): what NODE_EXTRA_CA_CERTS points at. */
  ca: string;
  /** The server's certificate (for localhost and 127.0.0.1) and key, signed by that CA. */
  cert: string;
  key: string;
}

/**
 * A private CA and a server certificate it signed for localhost and 127.0.0.1, made with openssl in
 * `dir` (P-256 keys: quick to make), so TLS tests need no committed key material.
 */
export async function makeTestCertificates(dir: string): Promise<TestCertificates> {
  const file = (name: string) => path.join(dir, name);
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const ca = ["-subj", "/CN=Streamlet test CA", "-days", "1"];
  ca.push("-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  await run("openssl", ["req", "-x509", ...key, "-keyout", file("ca.key"), "-out", file("ca.crt"), ...ca]);
  await run("openssl", [
    "req",
    ...key,
    "-keyout",
    file("server.key"),
    "-out",
    file("server.csr"),
    "-subj",
    "/CN=localhost",
  ]);
  const ext =
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n";
  writeFileSync(file("server.ext"), ext);
  const sign = ["x509", "-req", "-in", file("server.csr"), "-CA", file("ca.crt"), "-CAkey", file("ca.key")];
  sign.push("-CAcreateserial", "-days", "1", "-extfile", file("server.ext"), "-out", file("server.crt"));
  await run("openssl", sign);
  return { ca: file("ca.crt"), cert: file("server.crt"), key: file("server.key") };
}

/** redis-server arguments for TLS only (no plain-text port) with these certificates; clients show none. */
export function redisTlsArgs(tlsPort: number, certs: TestCertificates): string[] {
  return ["--port", "0", "--tls-port", String(tlsPort), "--tls-cert-file", certs.cert].concat([
    "--tls-key-file",
    certs.key,
    "--tls-ca-cert-file",
    certs.ca,
    "--tls-auth-clients",
    "no",
  ]);
}
