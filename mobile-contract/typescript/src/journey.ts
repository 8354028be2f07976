// A phone's day through the generated client: sign in, first sync, an offline shift uploaded
// in one batch, a delta sync that brings it back, and a refused token told apart by its code.
// Run against a demo server: TERREN_URL=http://127.0.0.1:18089 npm run journey

import { createHash, randomUUID } from "node:crypto";
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type SyncPage = components["schemas"]["SyncPage"];
type SyncChecksums = components["schemas"]["SyncChecksums"];
type Collection = keyof SyncChecksums;

const baseUrl = process.env.TERREN_URL ?? "http://127.0.0.1:18089";
const api = createClient<paths>({ baseUrl });
const collections: Collection[] = ["referrals", "alerts", "hotspots", "identifications", "profiles", "rounds"];

function fail(message: string): never {
  throw new Error(message);
}

function bearer(token: string): { Authorization: string } {
  return { Authorization: `Bearer ${token}` };
}

async function login(username: string): Promise<string> {
  const { data, error } = await api.POST("/api/v1/auth/login", {
    body: { username, password: "terren-demo-2026", device_id: "contract-journey" },
  });
  if (error) fail(`logging in ${username}: ${error.code} ${error.title}`);
  return data.access_token;
}

/** What the phone holds: per collection, the ids it keeps. */
type Held = Record<Collection, Set<string>>;

function nothingHeld(): Held {
  return { referrals: new Set(), alerts: new Set(), hotspots: new Set(), identifications: new Set(), profiles: new Set(), rounds: new Set() };
}

/** The contract's checksum: the sum modulo 2^32 of the first four bytes of SHA-256 of each id. */
function checksum(ids: Iterable<string>): number {
  let sum = 0;
  for (const id of ids) {
    sum = (sum + createHash("sha256").update(id).digest().readUInt32BE(0)) >>> 0;
  }
  return sum;
}

function apply(held: Held, page: SyncPage): void {
  if (page.reset) Object.values(held).forEach((ids) => ids.clear());
  for (const name of collections) {
    const changes = page[name];
    changes.remove.forEach((id) => held[name].delete(id));
    changes.put.forEach((record) => held[name].add(record.id));
  }
}

/** Syncs until nothing more follows; returns the pages and the cursor to keep. */
async function sync(token: string, held: Held, cursor?: string): Promise<{ cursor: string; pages: SyncPage[] }> {
  const pages: SyncPage[] = [];
  for (;;) {
    const { data, error } = await api.GET("/api/v1/sync", {
      params: { query: { limit: 100, ...(cursor ? { cursor } : {}) } },
      headers: bearer(token),
    });
    if (error) fail(`sync: ${error.code}`);
    apply(held, data);
    pages.push(data);
    cursor = data.cursor;
    if (!data.has_more) {
      const sums = data.checksums ?? fail("the last page carries checksums");
      for (const name of collections) {
        if (checksum(held[name]) !== sums[name]) fail(`${name}: checksum ${checksum(held[name])} ≠ ${sums[name]}`);
      }
      return { cursor, pages };
    }
  }
}

async function main(): Promise<void> {
  const token = await login("tirana.field");
  const held = nothingHeld();
  const first = await sync(token, held);
  if (!first.pages[0]?.reset) fail("a first sync starts with reset");
  console.log(`first sync: ${first.pages.length} page(s), ${collections.map((c) => `${c} ${held[c].size}`).join(", ")}`);

  // Found offline: a child at the lights, referred at once; both go up in one batch.
  const sightingId = randomUUID();
  const referralId = randomUUID();
  const now = new Date().toISOString();
  const { data: outcome, error: refused } = await api.POST("/api/v1/sync/batch", {
    headers: bearer(token),
    body: {
      operations: [
        {
          type: "record_sighting",
          key: `s-${sightingId}`,
          body: {
            id: sightingId,
            observed_at: now,
            location: { lat: 41.3275, lon: 19.8187, accuracy_m: 12, fix_time: now, source: "gps" },
            subject_type: "child",
            estimated_age: 9,
            sex: "female",
            street_situations: ["selling_items"],
            consent_given_by: "child",
            risk_level: "high",
          },
        },
        {
          type: "send_referral",
          key: `r-${referralId}`,
          body: {
            id: referralId,
            identification_id: sightingId,
            priority: "high",
            reasons: ["street_situation"],
            services: ["child_protection_assessment"],
            share: "details",
            consent_given_by: "child",
          },
        },
      ],
    },
  });
  if (refused) fail(`batch: ${refused.code}`);
  for (const result of outcome.results) {
    if (result.problem) fail(`operation ${result.index}: ${result.problem.code} ${result.problem.detail ?? ""}`);
  }
  console.log(`batch: ${outcome.results.map((r) => r.status).join(", ")}`);

  const delta = await sync(token, held, first.cursor);
  if (!held.identifications.has(sightingId) || !held.referrals.has(referralId)) fail("the delta brings the shift back");
  console.log(`delta sync: ${delta.pages.length} page(s), the sighting and its referral held`);

  // A token the server does not know: the problem's code says to sign in again.
  const { error, response } = await api.GET("/api/v1/sync", { params: { query: {} }, headers: bearer("not-a-token") });
  if (!error || response.status !== 401) fail(`expected 401, got ${response.status}`);
  if (error.code !== "invalid_token" && error.code !== "unauthenticated") fail(`expected a sign-in code, got ${error.code}`);
  console.log(`refused token: ${response.status} ${error.code}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
