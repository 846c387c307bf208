import { describe, expect, it } from "vitest";
import { checkAddress, describeKind, parseAllowedAddresses } from "../../src/import/address-policy.ts";
import { ImportError } from "../../src/import/import-error.ts";
import { checkUrlForm } from "../../src/import/target.ts";

const none = { allowed: [] };

describe("checkAddress", () => {
  it.each([
    ["8.8.8.8"],
    ["93.184.216.34"],
    ["2606:4700:4700::1111"],
    ["::ffff:8.8.8.8"], // IPv4-mapped: judged as the public IPv4 address it reaches
  ])("allows the public address %s", (address) => {
    expect(checkAddress(address, none)).toEqual({ allowed: true });
  });

  it.each([
    ["10.0.0.5", "private"],
    ["172.16.3.4", "private"],
    ["192.168.1.1", "private"],
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["169.254.1.1", "linkLocal"],
    ["169.254.169.254", "metadata"],
    ["169.254.170.2", "metadata"],
    ["100.64.0.1", "carrierGradeNat"],
    ["100.100.100.200", "metadata"],
    ["192.0.0.192", "metadata"],
    ["168.63.129.16", "metadata"], // public-looking, reachable only inside Azure
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["240.0.0.1", "reserved"],
    ["192.0.2.10", "reserved"],
    ["198.18.0.1", "reserved"],
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["fe80::1", "linkLocal"],
    ["fc00::1", "uniqueLocal"],
    ["fd12:3456::1", "uniqueLocal"],
    ["fd00:ec2::254", "metadata"],
    ["ff02::1", "multicast"],
    ["::ffff:10.0.0.1", "private"], // IPv4-mapped
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:169.254.169.254", "metadata"],
    ["64:ff9b::a00:1", "rfc6052"], // NAT64 of 10.0.0.1
    ["2002:a00:1::", "6to4"], // 6to4 of 10.0.0.1
    ["2001:db8::1", "reserved"],
    ["::a00:1", "unicast"], // IPv4-compatible (deprecated): outside 2000::/3, refused
    ["not-an-ip", "reserved"],
  ])("refuses %s (%s)", (address, kind) => {
    const verdict = checkAddress(address, none);
    expect(verdict.allowed).toBe(false);
    expect(verdict).toMatchObject({ kind });
  });

  it("allows private addresses in an allowed range, and only those", () => {
    const policy = { allowed: parseAllowedAddresses("127.0.0.1/32, 10.20.0.0/16, fd12::/16") };
    expect(checkAddress("127.0.0.1", policy).allowed).toBe(true);
    expect(checkAddress("::ffff:127.0.0.1", policy).allowed).toBe(true);
    expect(checkAddress("127.0.0.2", policy).allowed).toBe(false);
    expect(checkAddress("10.20.5.5", policy).allowed).toBe(true);
    expect(checkAddress("10.21.0.1", policy).allowed).toBe(false);
    expect(checkAddress("fd12:1::1", policy).allowed).toBe(true);
    expect(checkAddress("fd13::1", policy).allowed).toBe(false);
  });

  it("refuses cloud metadata addresses even inside an allowed range", () => {
    const policy = { allowed: parseAllowedAddresses("169.254.0.0/16,fd00::/8,100.64.0.0/10") };
    expect(checkAddress("169.254.1.1", policy).allowed).toBe(true);
    expect(checkAddress("169.254.169.254", policy)).toMatchObject({ allowed: false, kind: "metadata" });
    expect(checkAddress("fd00:ec2::254", policy)).toMatchObject({ allowed: false, kind: "metadata" });
    expect(checkAddress("100.100.100.200", policy)).toMatchObject({ allowed: false, kind: "metadata" });
  });

  it("words the kinds for the user", () => {
    expect(describeKind("private")).toBe("a private address");
    expect(describeKind("loopback")).toBe("a loopback address");
    expect(describeKind("metadata")).toBe("a cloud metadata address");
    expect(describeKind("unspecified")).toBe("an unspecified address");
    expect(describeKind("6to4")).toBe("a reserved address");
  });
});

describe("parseAllowedAddresses", () => {
  it("is empty when unset or blank", () => {
    expect(parseAllowedAddresses(undefined)).toEqual([]);
    expect(parseAllowedAddresses("")).toEqual([]);
    expect(parseAllowedAddresses(" , ")).toEqual([]);
  });

  it("reads comma-separated CIDRs and bare addresses", () => {
    const ranges = parseAllowedAddresses(" 127.0.0.1/32 ,10.0.0.0/8,fd00::/8, 192.168.1.5,::1");
    expect(ranges.map((r) => r.cidr)).toEqual([
      "127.0.0.1/32",
      "10.0.0.0/8",
      "fd00::/8",
      "192.168.1.5/32",
      "::1/128",
    ]);
  });

  it.each([["nope"], ["10.0.0.0/33"], ["10.0.0/8"], ["10.1"], ["fd00::/129"], ["http://10.0.0.1/"]])(
    "fails fast on %s",
    (value) => {
      expect(() => parseAllowedAddresses(value)).toThrow(/IMPORT_ALLOWED_ADDRESSES/);
    },
  );
});

describe("checkUrlForm", () => {
  const code = (raw: string, base?: string) => {
    try {
      checkUrlForm(raw, base === undefined ? undefined : new URL(base));
      return "ok";
    } catch (err) {
      expect(err).toBeInstanceOf(ImportError);
      return (err as ImportError).code;
    }
  };

  it("accepts http and https on ordinary ports", () => {
    expect(code("http://example.com/a.mp4")).toBe("ok");
    expect(code("https://example.com:8443/a.mp4")).toBe("ok");
    expect(code("/b.mp4", "https://example.com/a.mp4")).toBe("ok");
  });

  it.each([
    ["ftp://example.com/a.mp4", "unsupported_scheme"],
    ["file:///etc/passwd", "unsupported_scheme"],
    ["gopher://example.com/", "unsupported_scheme"],
    ["data:video/mp4;base64,AAAA", "unsupported_scheme"],
    ["not a url", "invalid_url"],
    ["http://user:secret@example.com/a.mp4", "invalid_url"],
    ["http://user@example.com/a.mp4", "invalid_url"],
    ["http://example.com:25/", "url_forbidden"],
    ["http://example.com:6667/", "url_forbidden"],
    ["http://example.com:0/", "url_forbidden"],
  ])("refuses %s (%s)", (raw, expected) => {
    expect(code(raw)).toBe(expected);
  });

  it("says so when a redirect is the problem", () => {
    expect(() => checkUrlForm("file:///etc/passwd", new URL("http://example.com/"))).toThrow(
      "the URL redirects to a URL of another scheme (file:); only http and https URLs can be imported",
    );
  });
});
