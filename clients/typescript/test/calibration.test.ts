// calibrate() against a fake transport that answers like the service: the order of messages, the timing
// between them and what the result carries.
import assert from "node:assert/strict";
import { test } from "node:test";
import { calibrate, exportCalibration, importCalibration, resetCalibration, type CalibrationRequest, type CalibrationTransport } from "../src/calibration.js";
import type { GazeClient } from "../src/client.js";

// A GazeClient is a transport: calibrate(client, ...) type-checks.
const asTransport = (client: GazeClient): CalibrationTransport => client;
void asTransport;

function fakeService(finish: Record<string, unknown> | Error) {
  const log: { request: CalibrationRequest; at: number }[] = [];
  const t0 = Date.now();
  return {
    log,
    async request(message: CalibrationRequest): Promise<Record<string, unknown>> {
      log.push({ request: message, at: Date.now() - t0 });
      switch (message.action) {
        case "start":
          return { action: "start", state: "collecting", points: [[0.1, 0.1], [0.9, 0.9]], validation_points: [[0.3, 0.7]], settle_ms: 20, collect_ms: 30 };
        case "finish":
          if (finish instanceof Error) throw finish;
          return finish;
        case "export":
          return { action: "export", state: "calibrated", calibration: { version: 1 } };
        default:
          return { action: message.action, state: "collecting" };
      }
    },
  };
}

test("calibrate shows each target, records it after the settle time, validates and finishes", async () => {
  const service = fakeService({ action: "finish", state: "calibrated", error: 0.04, error_source: "validation", calibration: { version: 1, coef_x: [1] } });
  const shown: string[] = [];
  let hidden = false;
  const result = await calibrate(service, {
    show: (x, y, kind, index, count) => {
      shown.push(`${kind} ${x},${y} ${index + 1}/${count}`);
    },
    hide: () => {
      hidden = true;
    },
  });
  assert.deepEqual(shown, ["point 0.1,0.1 1/3", "point 0.9,0.9 2/3", "validate 0.3,0.7 3/3"]);
  assert.deepEqual(
    service.log.map((l) => [l.request.action, l.request.x, l.request.y]),
    [["start", undefined, undefined], ["point", 0.1, 0.1], ["point", 0.9, 0.9], ["validate", 0.3, 0.7], ["finish", undefined, undefined]],
  );
  // Each target is recorded after its settle time and held for its collect time before the next one.
  const at = service.log.map((l) => l.at);
  assert.ok(at[1]! - at[0]! >= 18, `settle ${at[1]! - at[0]!}`);
  assert.ok(at[2]! - at[1]! >= 18 + 28, `collect + settle ${at[2]! - at[1]!}`);
  assert.equal(result.error, 0.04);
  assert.equal(result.errorSource, "validation");
  assert.deepEqual(result.calibration, { version: 1, coef_x: [1] });
  assert.ok(hidden);
});

test("calibrate takes the caller's targets and timing, and passes the service's error on", async () => {
  const service = fakeService(new Error("gazepipe calibration_failed: 2 usable calibration points"));
  let hidden = false;
  await assert.rejects(
    calibrate(service, {
      show: () => {},
      hide: () => {
        hidden = true;
      },
      points: [[0.5, 0.5]],
      validationPoints: [],
      settleMs: 1,
      collectMs: 1,
    }),
    /calibration_failed/,
  );
  assert.deepEqual(service.log.map((l) => l.request.action), ["start", "point", "finish"]);
  assert.ok(hidden);
});

test("calibrate stops when aborted", async () => {
  const service = fakeService({});
  const abort = new AbortController();
  const run = calibrate(service, { show: () => abort.abort(), signal: abort.signal });
  await assert.rejects(run, /aborted/);
  assert.deepEqual(service.log.map((l) => l.request.action), ["start"]);
});

test("import, export and reset are calibration messages", async () => {
  const service = fakeService({});
  await importCalibration(service, { version: 1 });
  assert.deepEqual(await exportCalibration(service), { version: 1 });
  await resetCalibration(service);
  assert.deepEqual(service.log.map((l) => [l.request.action, l.request.data]), [["import", { version: 1 }], ["export", undefined], ["reset", undefined]]);
});
