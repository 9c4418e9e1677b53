import { describe, expect, it } from "vitest";
import { PNG_1X1 } from "../../testkit/sites.ts";
import { imageSize } from "./images.ts";

describe("imageSize", () => {
  it("reads PNG, GIF, JPEG and WebP headers", () => {
    expect(imageSize(PNG_1X1)).toEqual({ width: 1, height: 1 });
    const gif = Buffer.from("GIF89a\x20\x03\x58\x02", "latin1");
    expect(imageSize(gif)).toEqual({ width: 800, height: 600 });
    // SOI, an APP0 segment of length 16, then SOF0 with height 480 and width 640.
    const jpeg = Buffer.concat([
      Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]),
      Buffer.alloc(14),
      Buffer.from([0xff, 0xc0, 0x00, 0x11, 0x08, 0x01, 0xe0, 0x02, 0x80, 0x03]),
      Buffer.alloc(10),
    ]);
    expect(imageSize(jpeg)).toEqual({ width: 640, height: 480 });
    const webp = Buffer.alloc(30);
    webp.write("RIFF", 0, "latin1");
    webp.write("WEBPVP8X", 8, "latin1");
    webp.writeUIntLE(99, 24, 3);
    webp.writeUIntLE(49, 27, 3);
    expect(imageSize(webp)).toEqual({ width: 100, height: 50 });
  });

  it("answers null for anything else, including truncated headers", () => {
    expect(imageSize(Buffer.from("hello"))).toBeNull();
    expect(imageSize(PNG_1X1.subarray(0, 10))).toBeNull();
    expect(imageSize(Buffer.from([0xff, 0xd8, 0xff]))).toBeNull();
  });
});
