// Real archives for tests and the bench, built in memory: zips by yazl, tar.gz by tar's own header encoder, so
// entries a well-behaved packer would refuse to write (`..`, absolute paths, links, devices) can be made too.
import zlib from "node:zlib";
import { Header } from "tar";
import yazl from "yazl";

export interface ArchiveEntry {
  path: string;
  data?: Buffer | string;
  /** zip: a unix mode with its file type bits (e.g. 0o120777 for a symlink); tar: ignored. */
  mode?: number;
  /** tar: the entry type (File, Directory, SymbolicLink, CharacterDevice, ...). */
  type?: string;
  linkpath?: string;
}

/**
 * A zip of the entries. yazl refuses unsafe names, so `rename` swaps a same-length placeholder for the real name
 * in the finished bytes (local header and central directory; names are not covered by the CRC).
 */
export async function makeZip(
  entries: ArchiveEntry[],
  opts: { rename?: Record<string, string>; compress?: boolean } = {},
): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const e of entries) {
    if (e.path.endsWith("/")) zip.addEmptyDirectory(e.path);
    else
      zip.addBuffer(Buffer.from(e.data ?? ""), e.path, {
        compress: opts.compress ?? true,
        ...(e.mode ? { mode: e.mode } : {}),
      });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  const out = Buffer.concat(chunks);
  for (const [from, to] of Object.entries(opts.rename ?? {})) {
    if (Buffer.byteLength(from) !== Buffer.byteLength(to)) throw new Error("rename keeps the length");
    let at = out.indexOf(from);
    while (at >= 0) {
      out.write(to, at);
      at = out.indexOf(from, at + 1);
    }
  }
  return out;
}

/** A tar (gzipped unless gzip: false) of the entries, headers written as given. */
export function makeTarGz(entries: ArchiveEntry[], opts: { gzip?: boolean } = {}): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? "");
    const type = e.type ?? (e.path.endsWith("/") ? "Directory" : "File");
    const size = type === "File" ? data.length : 0;
    const header = new Header({
      path: e.path,
      type: type as never,
      size,
      mode: type === "Directory" ? 0o755 : 0o644,
      mtime: new Date(0),
      linkpath: e.linkpath ?? "",
      uid: 0,
      gid: 0,
    });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    blocks.push(block);
    if (size) {
      blocks.push(data);
      if (size % 512) blocks.push(Buffer.alloc(512 - (size % 512)));
    }
  }
  blocks.push(Buffer.alloc(1024));
  const tar = Buffer.concat(blocks);
  return opts.gzip === false ? tar : zlib.gzipSync(tar);
}
