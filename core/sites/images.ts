// Image width and height from the first bytes of PNG, GIF, JPEG and WebP files: a few header reads instead of
// an image library. Anything unrecognised (or truncated) gives null; it is metadata, never a reason to refuse.

export interface ImageSize {
  width: number;
  height: number;
}

export function imageSize(b: Buffer): ImageSize | null {
  try {
    // PNG: signature, then the IHDR chunk.
    if (b.length >= 24 && b.readUInt32BE(0) === 0x89504e47 && b.toString("latin1", 12, 16) === "IHDR") {
      return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
    }
    // GIF87a / GIF89a: logical screen size, little-endian.
    if (b.length >= 10 && b.toString("latin1", 0, 4) === "GIF8")
      return { width: b.readUInt16LE(6), height: b.readUInt16LE(8) };
    // WebP: RIFF container with a VP8, VP8L or VP8X chunk.
    if (b.length >= 30 && b.toString("latin1", 0, 4) === "RIFF" && b.toString("latin1", 8, 12) === "WEBP") {
      const chunk = b.toString("latin1", 12, 16);
      if (chunk === "VP8 ") return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff };
      if (chunk === "VP8L") {
        const bits = b.readUInt32LE(21);
        return { width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
      }
      if (chunk === "VP8X") return { width: b.readUIntLE(24, 3) + 1, height: b.readUIntLE(27, 3) + 1 };
      return null;
    }
    // JPEG: walk the segments to the first start-of-frame marker.
    if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) {
      let i = 2;
      while (i + 9 < b.length) {
        if (b[i] !== 0xff) return null;
        const marker = b.readUInt8(i + 1); // i + 9 < length
        if (marker === 0xff) {
          i++;
          continue;
        }
        const length = b.readUInt16BE(i + 2);
        const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
        if (isSof) return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7) };
        i += 2 + length;
      }
    }
  } catch {
    /* truncated header */
  }
  return null;
}
