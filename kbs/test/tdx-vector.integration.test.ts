import { afterAll, beforeAll, expect, it } from "vitest";
import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeJwt } from "jose";
import { describeWithVectors, readVector, vectorPath } from "../../testing/vectors.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";
import { attestRaw, auth, getResource, startTestKbs, teeKey, type TestKbs } from "./helpers.js";

// The tests read decoded EAR claims deep (submods.cpu0["ear.status"] …) and assert each value, so a
// wrong path fails the assertion; typing every claim path here would only restate the assertions.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type DecodedClaims = Record<string, any>;

/**
 * A real TDX quote (Trustee's tdx_quote_6.dat) through /attest with Intel collateral loaded from
 * `verifiers.tdx.collateralDir` (files linked from ../shared/vectors into a temp folder, never
 * copied into the repo). The quote is bound to someone else's report data, so the result must be
 * contraindicated — while the claims show the real verifier parsed it and applied the collateral.
 */
describeWithVectors("KBS with a real TDX quote and collateral from a folder", () => {
  let dir: string;
  let badDir: string;
  let pg: TestDatabase;
  let t: TestKbs;
  let broken: TestKbs;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kbs-tdx-collateral-"));
    await symlink(vectorPath("tdx/trustee/tcbInfo.json"), join(dir, "tcbInfo.json"));
    await symlink(vectorPath("tdx/trustee/enclaveIdentity.json"), join(dir, "enclaveIdentity.json"));
    await symlink(vectorPath("intel-roots/tcb_signing_chain.pem"), join(dir, "tcb_signing_chain.pem"));
    badDir = await mkdtemp(join(tmpdir(), "kbs-tdx-bad-"));
    await writeFile(join(badDir, "junk.json"), "{}");
    pg = await createTestDatabase("kbs_tdx");
    t = await startTestKbs({ databaseUrl: pg.url, developmentMode: false, verifiers: { tdx: { collateralDir: dir, requireCrls: false } } });
    broken = await startTestKbs({ databaseUrl: pg.url, developmentMode: false, masterKey: t.masterKey, verifiers: { tdx: { collateralDir: badDir } } }, undefined, t.admin);
  });
  afterAll(async () => {
    await broken?.close();
    await t?.close();
    await pg?.drop();
    await rm(dir, { recursive: true, force: true });
    await rm(badDir, { recursive: true, force: true });
  });

  it("verifies the quote with the folder's collateral; not bound to this session → contraindicated, nothing released", async () => {
    const key = await teeKey();
    const session = (await auth(t.url, "tdx")).session!;
    const runtimeData = { nonce: session.nonce, "tee-pubkey": key.publicJwk };
    const evidence = { quote: readVector("tdx/trustee/tdx_quote_6.dat").toString("base64") };
    const response = await attestRaw(t.url, session.cookie, { "runtime-data": runtimeData, "tee-evidence": { primary_evidence: evidence, additional_evidence: "" } });
    expect(response.status).toBe(200);
    const { token } = (await response.json()) as { token: string };
    // Decoded claims, asserted field by field.
    const claims = decodeJwt(token) as { submods: { cpu0: DecodedClaims } };
    const cpu0 = claims.submods.cpu0;
    expect(cpu0["ear.status"]).toBe("contraindicated");
    const tdx = cpu0["ear.veraison.annotated-evidence"].tdx;
    expect(tdx.mrtd).toBe("21e8dead92d6c69d7cbba79816686c03a48485c7df0c11f6f04792d5e1d378f6b8c46615ba6946adccac6becffbb1e88");
    expect(tdx.fmspc?.toLowerCase()).toBe("00a06d080000");
    // tcb_status is only present when collateral was applied.
    expect(tdx.tcb_status).toBeDefined();
    const failed = (cpu0["propeller.appraisal"].checks as { name: string; ok: boolean }[]).filter((c) => !c.ok).map((c) => c.name);
    expect(failed.some((n) => /report_?data/i.test(n))).toBe(true);
    expect((await getResource(t.url, "any/key/x", { bearer: token })).status).toBe(404);
  });

  it("a collateral folder that cannot be used makes tdx an unsupported TEE, with the reason", async () => {
    const a = await auth(broken.url, "tdx");
    expect(a.response.status).toBe(400);
    expect((a.body as { detail: string }).detail).toMatch(/unsupported TEE "tdx": its collateral in .* cannot be used/);
  });
});
