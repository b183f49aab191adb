// Opens a `gazepipe analyze` report (a file:// URL) in Debian's Chromium, offline, and prints one JSON line: its
// images (loaded or broken), every request that left the page (a self-contained report makes none) and page
// errors; with "screenshot", a shot of the page (`clip` {x, y, width, height} to shoot a part of it).
//
// usage: node report.mjs '{"url": "file:///.../report.html", "chromium": "/usr/bin/chromium", "profileDir": ...}'
import { chromium } from "playwright-core";

const opts = JSON.parse(process.argv[2] ?? "{}");
const browser = await chromium.launchPersistentContext(opts.profileDir, {
  executablePath: opts.chromium ?? "/usr/bin/chromium",
  headless: true,
  offline: true,
  viewport: { width: opts.width ?? 1100, height: opts.height ?? 900 },
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"],
});
const summary = { requests: [], pageErrors: [], images: [], title: null, screenshot: null };
try {
  const page = browser.pages()[0] ?? (await browser.newPage());
  page.on("request", (r) => { if (!/^(data|file):/.test(r.url())) summary.requests.push(r.url()); });
  page.on("pageerror", (e) => summary.pageErrors.push(String(e).slice(0, 500)));
  await page.goto(opts.url, { waitUntil: "load" });
  summary.title = await page.title();
  summary.images = await page.evaluate(() => Promise.all([...document.images].map(async (img) => {
    await img.decode().catch(() => null);
    return { alt: img.alt, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight };
  })));
  if (opts.screenshot) {
    await page.screenshot({ path: opts.screenshot, fullPage: !opts.clip, clip: opts.clip });
    summary.screenshot = opts.screenshot;
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
