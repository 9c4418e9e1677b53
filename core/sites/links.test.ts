import { describe, expect, it } from "vitest";
import { removeNavLinks, resolveLink, rewriteLinks, titleOf, withTitle } from "./links.ts";

describe("resolveLink", () => {
  it("resolves relative and rooted links, and ignores external ones", () => {
    expect(resolveLink("about.html", "index.html")).toBe("about.html");
    expect(resolveLink("../about.html?x=1#top", "blog/post.html")).toBe("about.html");
    expect(resolveLink("/about", "blog/post.html")).toBe("about");
    expect(resolveLink("https://example.com/about.html", "index.html")).toBeNull();
    expect(resolveLink("//cdn.example/about.html", "index.html")).toBeNull();
    expect(resolveLink("#top", "index.html")).toBeNull();
    expect(resolveLink("../../x", "a.html")).toBeNull();
  });
});

describe("rewriteLinks", () => {
  it("rewrites every form of a link to the page in HTML and keeps everything else", () => {
    const html = `<a href="about.html">A</a> <a href='/about#team'>B</a> <a href="./about.html?x=1">C</a>
<a href="about-us.html">not me</a> <a href="https://x.test/about.html">external</a> <p>about.html in text</p>
<div style="background:url(about.html)"></div>`;
    const r = rewriteLinks(html, "html", "index.html", "about.html", "team.html");
    expect(r.count).toBe(4);
    expect(r.text).toBe(`<a href="team.html">A</a> <a href='/team#team'>B</a> <a href="./team.html?x=1">C</a>
<a href="about-us.html">not me</a> <a href="https://x.test/about.html">external</a> <p>about.html in text</p>
<div style="background:url(team.html)"></div>`);
  });

  it("rewrites links from a nested file, in CSS and in JS string literals only", () => {
    expect(rewriteLinks(`<a href="../about.html">`, "html", "blog/post.html", "about.html", "team.html").text).toBe(
      `<a href="../team.html">`,
    );
    expect(rewriteLinks(`a{background:url("/about.html")}`, "css", "site.css", "about.html", "team.html").text).toBe(
      `a{background:url("/team.html")}`,
    );
    const js = `location.href = "/about.html"; const about = 1; log("about"); go('about.html');`;
    expect(rewriteLinks(js, "js", "app.js", "about.html", "team.html")).toEqual({
      text: `location.href = "/team.html"; const about = 1; log("about"); go('team.html');`,
      count: 2,
    });
  });
});

describe("removeNavLinks", () => {
  it("removes the page's list item from <nav> and leaves body links", () => {
    const html = `<nav><ul>\n  <li><a href="/">Home</a></li>\n  <li><a href="about.html">About</a></li>\n</ul></nav>\n<p><a href="about.html">about</a></p>`;
    const r = removeNavLinks(html, "index.html", "about.html");
    expect(r.count).toBe(1);
    expect(r.text).toBe(
      `<nav><ul>\n  <li><a href="/">Home</a></li>\n</ul></nav>\n<p><a href="about.html">about</a></p>`,
    );
  });
});

describe("titles", () => {
  it("reads and sets <title>", () => {
    expect(titleOf("<head><title> A &amp; B </title></head>")).toBe("A & B");
    expect(withTitle("<head><title>x</title></head>", "<New>")).toBe("<head><title>&lt;New&gt;</title></head>");
    expect(withTitle("<html><head></head></html>", "T")).toContain("<head>\n  <title>T</title>");
  });
});
