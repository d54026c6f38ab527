import { randomBytes } from "node:crypto";
import { chmod, link, mkdir, rename, unlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CertError } from "./errors.js";

export const KEY_MODE = 0o600;
export const CERT_MODE = 0o644;

/**
 * Writes a file atomically with an exact mode (set explicitly: the umask may only have narrowed
 * it). Without `overwrite`, an existing file is never replaced: the final name is created with
 * link(2), which fails if it exists, so two concurrent runs cannot both "win".
 */
export async function writeFileAtomic(path: string, data: string, mode: number, overwrite: boolean): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = join(dirname(path), `.${randomBytes(6).toString("hex")}.tmp`);
  await writeFile(tmp, data, { mode, flag: "wx" });
  try {
    await chmod(tmp, mode);
    if (overwrite) {
      await rename(tmp, path);
      return;
    }
    try {
      await link(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") {
        throw new CertError("cert_exists", `${path} exists; refusing to overwrite it (use force)`, { path });
      }
      throw err;
    }
    await unlink(tmp);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}
