// Opens the /demo page in Debian's Chromium with a fake camera playing a .y4m file, waits for results with a
// face and both pupils, takes a screenshot, and prints one JSON summary line for tests/test_browser.py.
//
// usage: node drive.mjs '{"url": ..., "y4m": ..., "screenshot": ..., "chromium": "/usr/bin/chromium",
//                         "timeoutMs": 60000, "minResults": 10, "profileDir": ...}'
// With "expectAlert": "some text", it instead waits for the page's alert (role=alert) to contain that text
// (how the page tells the user that the camera is denied or the service is down) and reports it as `alert`.
// With "calibrate": true, once results with pupils came it clicks Calibrate, waits for the first target and
// cancels with Escape, reporting what it saw as `calibration`.
// "fakeUi": false leaves out --use-fake-ui-for-media-stream, so the camera permission is refused.
import { chromium } from "playwright-core";

const opts = JSON.parse(process.argv[2] ?? "{}");
const summary = { ok: false, results: 0, good: null, last: null, state: null, errors: [], console: [], pageErrors: [], screenshot: null, elapsedMs: 0 };
const started = Date.now();

const browser = await chromium.launchPersistentContext(opts.profileDir, {
  executablePath: opts.chromium ?? "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1100, height: 760 },
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-device-for-media-stream",
    ...(opts.fakeUi === false ? [] : ["--use-fake-ui-for-media-stream"]),
    `--use-file-for-fake-video-capture=${opts.y4m}`,
    // Headless tabs count as hidden to some throttling heuristics; the page must keep its capture timer going.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
  ],
});

try {
  const page = browser.pages()[0] ?? (await browser.newPage());
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") summary.console.push(`${m.type()}: ${m.text()}`.slice(0, 500));
  });
  page.on("pageerror", (e) => summary.pageErrors.push(String(e).slice(0, 500)));
  await page.goto(opts.url, { waitUntil: "load" });

  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  if (opts.expectAlert) {
    const alert = page.getByRole("alert").filter({ hasText: opts.expectAlert });
    try {
      await alert.first().waitFor({ timeout: Math.max(1000, deadline - Date.now()) });
      summary.alert = await alert.first().textContent();
      summary.ok = true;
    } catch {
      summary.alert = await page.getByRole("alert").first().textContent({ timeout: 500 }).catch(() => null);
    }
    const g = await page.evaluate(() => window.gazepipe && { count: window.gazepipe.count, state: window.gazepipe.state });
    summary.results = g?.count ?? 0;
    summary.state = g?.state ?? null;
    if (opts.screenshot) {
      await page.screenshot({ path: opts.screenshot });
      summary.screenshot = opts.screenshot;
    }
  }

  const read = () =>
    page.evaluate(() => {
      const g = window.gazepipe;
      return g ? { count: g.count, last: g.last, state: g.state, errors: g.errors } : null;
    });
  const isGood = (r) => !!r && r.face_found && Array.isArray(r.pupil_left) && Array.isArray(r.pupil_right);

  while (!opts.expectAlert && Date.now() < deadline) {
    const g = await read();
    if (g) {
      summary.results = g.count;
      summary.last = g.last;
      summary.state = g.state;
      summary.errors = g.errors;
      if (isGood(g.last)) {
        summary.good ??= g.last;
        summary.goodCount = (summary.goodCount ?? 0) + 1;
        // Screenshot while the overlay shows pupils (the result on screen is the one just read), once
        // enough results have come to show the page in its steady state.
        if (g.count >= (opts.minResults ?? 10)) {
          await page.screenshot({ path: opts.screenshot });
          // Keep the picture only if no newer result replaced the good one meanwhile: the overlay and numbers
          // on it are then those of a result with a face and pupils.
          const after = await read();
          if (after?.last?.seq === g.last.seq) {
            summary.screenshot = opts.screenshot;
            summary.ok = true;
            break;
          }
          summary.screenshotRetries = (summary.screenshotRetries ?? 0) + 1;
          if (summary.screenshotRetries >= 20) {
            summary.screenshot = opts.screenshot;
            summary.ok = true;
            break;
          }
          continue;
        }
      }
    }
    await page.waitForTimeout(100);
  }
  if (opts.calibrate && summary.ok) {
    // The calibration mode: the Calibrate button exists, clicking it shows the first target, and Escape cancels.
    // Nothing here depends on where the gaze falls.
    const cal = { button: 0, target: null, dots: 0, closed: false, status: null, error: null };
    summary.calibration = cal;
    try {
      const button = page.getByRole("button", { name: "Calibrate", exact: true });
      cal.button = await button.count();
      await button.click();
      const dialog = page.getByRole("dialog", { name: "Screen calibration" });
      await dialog.filter({ hasText: /\(1 of \d+\)/ }).waitFor({ timeout: 15_000 });
      cal.target = await dialog.locator("p").textContent();
      cal.dots = await dialog.locator("div").count();
      if (opts.calibrationScreenshot) await page.screenshot({ path: opts.calibrationScreenshot });
      // Escape leaves full screen (when the page got it), which cancels; a second one cancels over the page.
      for (let i = 0; i < 3 && (await dialog.count()); i++) {
        await page.keyboard.press("Escape");
        await page.waitForTimeout(300);
      }
      await dialog.waitFor({ state: "detached", timeout: 5_000 });
      cal.closed = true;
      cal.status = await page.locator(".calibration dd").first().textContent();
    } catch (err) {
      cal.error = String(err?.message ?? err).slice(0, 500);
    }
  }
  if (!summary.screenshot && opts.screenshot && !opts.expectAlert) {
    // Failed: still leave a picture of what the page showed, for whoever reads the CI artifacts.
    await page.screenshot({ path: opts.screenshot });
    summary.screenshot = opts.screenshot;
  }
} catch (err) {
  summary.pageErrors.push(`driver: ${err?.stack ?? err}`);
} finally {
  summary.elapsedMs = Date.now() - started;
  await browser.close();
}
console.log(JSON.stringify(summary));
