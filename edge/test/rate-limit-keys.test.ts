import { describe, expect, it } from "vitest";
import { accountKey, ipKey, LOCAL_KEY } from "../src/rate-limit/keys.ts";

describe("ipKey", () => {
  it("keys IPv4 addresses as they are", () => {
    expect(ipKey("203.0.113.7")).toBe("ip:203.0.113.7");
    expect(ipKey(" 198.51.100.1 ")).toBe("ip:198.51.100.1");
    expect(ipKey("010.0.0.1")).toBe("ip:10.0.0.1");
  });

  it("falls back to the constant local key without a header", () => {
    for (const header of [undefined, null, "", "  "]) expect(ipKey(header)).toBe(LOCAL_KEY);
    expect(LOCAL_KEY).toBe("local");
  });

  it("keys an IPv6 address by its /64, however it is written", () => {
    const key = "ip:2001:db8:85a3:8d3::/64";
    for (const address of [
      "2001:db8:85a3:8d3:1319:8a2e:370:7348",
      "2001:0DB8:85A3:08D3:0000:0000:0000:0001",
      "2001:db8:85a3:8d3::1",
      "2001:db8:85a3:8d3::",
      "2001:db8:85a3:8d3:ffff::1%eth0",
    ]) {
      expect(ipKey(address)).toBe(key);
    }
    expect(ipKey("2001:db8::1")).toBe("ip:2001:db8:0:0::/64");
    expect(ipKey("::1")).toBe("ip:0:0:0:0::/64");
    expect(ipKey("2001:db8:85a3:8d4::1")).not.toBe(key);
  });

  it("keys IPv4-mapped IPv6 as the IPv4 address", () => {
    expect(ipKey("::ffff:203.0.113.7")).toBe("ip:203.0.113.7");
    expect(ipKey("::ffff:cb00:7107")).toBe("ip:203.0.113.7");
  });

  it("puts anything unparseable under one key", () => {
    for (const header of [
      "garbage",
      "256.1.1.1",
      "1.2.3",
      "1:2:3",
      "1::2::3",
      "1:2:3:4:5:6:7:8:9",
      "::ffff:1.2.3.999",
    ]) {
      expect(ipKey(header)).toBe("ip:unknown");
    }
  });
});

describe("accountKey", () => {
  it("keys an account by its normalised email", () => {
    expect(accountKey("alice@example.com")).toBe("email:alice@example.com");
  });
});
