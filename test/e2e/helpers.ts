import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { sha256Digest } from "../../protocol/index.js";
import { EXAMPLES_DIR } from "../../testing/paths.js";
import { ManagerClient } from "../../cli/manager-client.js";
import type { Task as TaskView } from "../../protocol/api/index.js";
import { generateApiKey } from "../../manager/index.js";

/** The admin API key end-to-end managers are started with (`auth: E2E_AUTH`). */
export const E2E_ADMIN_KEY = generateApiKey().key;
export const E2E_AUTH = { bootstrapKeys: [{ name: "e2e admin", key: E2E_ADMIN_KEY, scopes: ["admin" as const] }] };

export async function exampleArtifact(relative: string): Promise<{ digest: string; inline: string }> {
  const bytes = await readFile(join(EXAMPLES_DIR, relative));
  return { digest: sha256Digest(bytes), inline: bytes.toString("base64") };
}

export async function waitForProplets(client: ManagerClient, count: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { items } = await client.proplets();
    if (items.filter((p) => p.alive).length >= count) return;
    if (Date.now() > deadline) throw new Error(`only ${items.filter((p) => p.alive).length} of ${count} proplets live`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function runToEnd(client: ManagerClient, body: Record<string, unknown>, timeoutMs = 30_000): Promise<TaskView> {
  const created = await client.createTask({ ...body, start: true });
  return client.waitForFinish(created.id, timeoutMs);
}
