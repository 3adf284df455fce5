// AWS Signature Version 4 in the browser (WebCrypto), for a cluster that
// enforces authentication (--auth): the console signs its DynamoDB, Streams,
// Lambda and console API requests with the access key and secret given at
// sign-in, kept in the tab's sessionStorage (gone when the tab closes).
// The event stream (EventSource cannot send headers) gets a presigned URL.
// Mirrors ddb/iam/sigv4.py, the router's verifier; tests/router/console/test_auth_js.py
// checks the one against the other.
"use strict";

const SigV4 = (() => {
  const STORE = "trireme-credentials";
  const enc = new TextEncoder();
  const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
  const sha256 = async (data) =>
    hex(await crypto.subtle.digest("SHA-256", typeof data === "string" ? enc.encode(data) : data));

  async function hmac(key, text) {
    const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return new Uint8Array(await crypto.subtle.sign("HMAC", k, enc.encode(text)));
  }

  const derived = new Map(); // key id, date, region, service -> signing key: four HMACs once a day
  async function signingKey(creds, date, service) {
    const slot = [creds.accessKeyId, date, creds.region, service].join("/");
    if (!derived.has(slot)) {
      let key = enc.encode("AWS4" + creds.secretAccessKey);
      for (const part of [date, creds.region, service, "aws4_request"]) key = await hmac(key, part);
      derived.set(slot, key);
    }
    return derived.get(slot);
  }

  // RFC 3986: everything but A-Z a-z 0-9 - _ . ~ percent-encoded.
  const encode = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  const canonicalPath = (path) => (path === "" || path === "/" ? "/" : encode(path).replace(/%2F/g, "/"));
  function canonicalQuery(query) {
    if (!query) return "";
    const pairs = query.split("&").map((p) => {
      const i = p.indexOf("=");
      const [k, v] = i < 0 ? [p, ""] : [p.slice(0, i), p.slice(i + 1)];
      return [encode(decodeURIComponent(k)), encode(decodeURIComponent(v))];
    });
    pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    return pairs.map(([k, v]) => `${k}=${v}`).join("&");
  }
  const timestamp = (now) => now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");

  async function signature(creds, service, method, url, headers, body, amzDate) {
    const [path, query = ""] = url.split("?");
    const names = Object.keys(headers).sort();
    const canonical = [method, canonicalPath(path), canonicalQuery(query),
      names.map((n) => `${n}:${String(headers[n]).trim().replace(/\s+/g, " ")}\n`).join(""),
      names.join(";"), await sha256(body || "")].join("\n");
    const scope = `${amzDate.slice(0, 8)}/${creds.region}/${service}/aws4_request`;
    const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, await sha256(canonical)].join("\n");
    return { scope, names, value: hex(await hmac(await signingKey(creds, amzDate.slice(0, 8), service), toSign)) };
  }

  // The headers that sign a request: `headers` (lower-case names) are signed with host, x-amz-date (and the token).
  async function sign(creds, service, method, url, headers, body, host, now = new Date()) {
    const amzDate = timestamp(now);
    const signed = { ...headers, host, "x-amz-date": amzDate };
    if (creds.sessionToken) signed["x-amz-security-token"] = creds.sessionToken;
    const sig = await signature(creds, service, method, url, signed, body, amzDate);
    const out = { "x-amz-date": amzDate, authorization:
      `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${sig.scope}, SignedHeaders=${sig.names.join(";")}, Signature=${sig.value}` };
    if (creds.sessionToken) out["x-amz-security-token"] = creds.sessionToken;
    return out;
  }

  // A GET URL carrying its signature in the query (X-Amz-*), valid for `expires` seconds.
  async function presign(creds, service, url, host, expires = 300, now = new Date()) {
    const amzDate = timestamp(now);
    const scope = `${amzDate.slice(0, 8)}/${creds.region}/${service}/aws4_request`;
    const params = { "X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": `${creds.accessKeyId}/${scope}`,
      "X-Amz-Date": amzDate, "X-Amz-Expires": String(expires), "X-Amz-SignedHeaders": "host" };
    if (creds.sessionToken) params["X-Amz-Security-Token"] = creds.sessionToken;
    const query = Object.entries(params).map(([k, v]) => `${encode(k)}=${encode(v)}`).join("&");
    const full = url + (url.includes("?") ? "&" : "?") + query;
    const sig = await signature(creds, service, "GET", full, { host }, "", amzDate);
    return `${full}&X-Amz-Signature=${sig.value}`;
  }

  const storage = () => globalThis.sessionStorage;
  function credentials() {
    const saved = storage() && storage().getItem(STORE);
    return saved ? JSON.parse(saved) : null;
  }
  function signIn(creds) { storage().setItem(STORE, JSON.stringify(creds)); }
  function signOut() { storage().removeItem(STORE); derived.clear(); }

  // fetch(), signed for `service` when signed in (else as it is).
  async function signedFetch(url, init = {}, service = "dynamodb") {
    const creds = credentials();
    if (!creds) return fetch(url, init);
    const headers = Object.fromEntries(Object.entries(init.headers || {}).map(([k, v]) => [k.toLowerCase(), v]));
    const extra = await sign(creds, service, init.method || "GET", url, headers, init.body || "", location.host);
    return fetch(url, { ...init, headers: { ...headers, ...extra } });
  }

  // The URL to open an EventSource on: presigned when signed in.
  async function eventUrl(url) {
    const creds = credentials();
    return creds ? presign(creds, "dynamodb", url, location.host) : url;
  }

  return { sign, presign, signedFetch, eventUrl, credentials, signIn, signOut };
})();

globalThis.SigV4 = SigV4;
