// Assembles the bare x86 test guests (test/v86/guest/*.S) into flat multiboot
// images with GNU as/ld (binutils, present wherever gcc is; .ci/run installs it
// when missing). Images are cached under .cache/x86/ by source hash.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** Where a multiboot image built by {@link assembleGuest} is loaded (its `-Ttext`). */
export const GUEST_LOAD_ADDRESS = 0x100000;

/** The flat image of `test/v86/guest/<name>`, linked at {@link GUEST_LOAD_ADDRESS}. */
export function assembleGuest(name: string): Uint8Array {
  const src = join(root, "test/v86/guest", name);
  const hash = createHash("sha256").update(readFileSync(src)).digest("hex").slice(0, 16);
  const cacheDir = join(root, ".cache/x86");
  const out = join(cacheDir, `${name}.${hash}.bin`);
  if (!existsSync(out)) {
    mkdirSync(cacheDir, { recursive: true });
    const work = mkdtempSync(join(tmpdir(), "vmdev-x86-"));
    try {
      const obj = join(work, "guest.o"), bin = join(work, "guest.bin");
      try {
        execFileSync("as", ["--32", "-o", obj, src], { stdio: ["ignore", "pipe", "pipe"] });
        execFileSync("ld", ["-m", "elf_i386", `-Ttext=0x${GUEST_LOAD_ADDRESS.toString(16)}`, "--oformat", "binary", "-o", bin, obj], { stdio: ["ignore", "pipe", "pipe"] });
      } catch (e) {
        const err = e as { stderr?: Buffer; message: string };
        throw new Error(`assembling ${name} needs GNU as/ld for i386 (binutils): ${err.stderr?.toString().trim() || err.message}`);
      }
      renameSync(bin, out);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  return new Uint8Array(readFileSync(out));
}
