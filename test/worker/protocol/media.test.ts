import { describe, expect, it } from "vitest";
import { servedContentType } from "../../../worker/protocol/media";

describe("the Content-Type a mirrored file is served with", () => {
  it.each([
    ["application/json", "application/json"],
    ["application/json; charset=utf-8", "application/json; charset=utf-8"],
    ["text/plain", "text/plain"],
    ["application/x-gzip", "application/x-gzip"],
    ["application/gzip", "application/gzip"],
    ["binary/octet-stream", "binary/octet-stream"],
    ["application/x-apple-diskimage", "application/x-apple-diskimage"],
    ["Application/X-GZIP", "Application/X-GZIP"],
    ["text/plain; charset=utf-8; x=<script>", "text/plain"],
  ])("%s is kept as %s", (type, served) => {
    expect(servedContentType(type)).toBe(served);
  });

  it.each([
    "text/html",
    "text/html; charset=utf-8",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "application/javascript",
    "text/javascript",
    "text/css",
    "multipart/x-mixed-replace; boundary=x",
    "application/pdf",
    "",
    "garbage",
  ])("%j is served as application/octet-stream", (type) => {
    expect(servedContentType(type)).toBe("application/octet-stream");
  });

  it("a file its bucket did not type is application/octet-stream", () => {
    expect(servedContentType(undefined)).toBe("application/octet-stream");
  });
});
