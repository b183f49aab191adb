// The pure view helpers shared by the component and the demo: the summary text and the overlay geometry.
import assert from "node:assert/strict";
import { test } from "node:test";
import { describeGaze } from "../src/describe.js";
import { drawOverlay } from "../src/overlay.js";
import { parseServerMessage, type GazeResult } from "../src/protocol.js";
import { RESULT_JSON } from "./fixtures.js";

const base = parseServerMessage(RESULT_JSON) as GazeResult;
const result = (over: Partial<GazeResult>): GazeResult => ({ ...base, ...over });

test("summary: direction follows is_left / is_right / is_center", () => {
  assert.equal(describeGaze(result({ is_left: true, is_center: false })).label, "Looking left");
  assert.equal(describeGaze(result({ is_right: true, is_center: false })).direction, "right");
  assert.equal(describeGaze(result({})).label, "Looking at the screen");
});

test("summary: no face, blinking, dropped frames and no result yet read plainly", () => {
  assert.equal(describeGaze(result({ face_found: false })).label, "No face in view");
  assert.equal(describeGaze(result({ is_blinking: true })).label, "Blinking");
  assert.equal(describeGaze(result({ dropped: "stale" })).label, "Frame dropped (stale)");
  assert.equal(describeGaze(null).direction, "unknown");
  assert.equal(describeGaze(result({ is_center: false, pupil_left: null, pupil_right: null })).label, "Eyes not found");
});

test("summary: attention is clamped to 0..1", () => {
  assert.equal(describeGaze(result({ attention_score: 1.7 })).attention, 1);
  assert.equal(describeGaze(result({ attention_score: -0.2 })).attention, 0);
});

/** A canvas whose 2D context records where circles and rectangles are drawn. */
function fakeCanvas(cssWidth: number, cssHeight: number) {
  const arcs: [number, number][] = [];
  const rects: [number, number, number, number][] = [];
  const ctx = {
    clearRect() {}, beginPath() {}, stroke() {}, moveTo() {}, lineTo() {},
    arc(x: number, y: number) { arcs.push([x, y]); },
    strokeRect(x: number, y: number, w: number, h: number) { rects.push([x, y, w, h]); },
    strokeStyle: "", lineWidth: 0,
  };
  const canvas = { clientWidth: cssWidth, clientHeight: cssHeight, width: 0, height: 0, getContext: () => ctx };
  return { canvas: canvas as unknown as HTMLCanvasElement, arcs, rects };
}

test("overlay: frame pixels scale to the canvas, mirrored on request", () => {
  const data = result({ pupil_left: [100, 50], pupil_right: [300, 60], face_box: [80, 20, 240, 200] });
  const plain = fakeCanvas(320, 240); // half of a 640x480 frame
  drawOverlay(plain.canvas, data, { frameWidth: 640, frameHeight: 480 });
  assert.deepEqual(plain.arcs, [[50, 25], [150, 30]]);
  assert.deepEqual(plain.rects, [[40, 10, 120, 100]]);

  const mirrored = fakeCanvas(320, 240);
  drawOverlay(mirrored.canvas, data, { frameWidth: 640, frameHeight: 480, mirrored: true });
  assert.deepEqual(mirrored.arcs, [[270, 25], [170, 30]]);
  assert.deepEqual(mirrored.rects, [[160, 10, 120, 100]]);
});

test("overlay: letterboxing (contain) offsets the drawing", () => {
  const { canvas, arcs } = fakeCanvas(640, 640); // a 640x480 frame centred with 80 px bands above and below
  drawOverlay(canvas, result({ pupil_left: [0, 0], pupil_right: null, face_box: null }), { frameWidth: 640, frameHeight: 480 });
  assert.deepEqual(arcs, [[0, 80]]);
});

test("overlay: nothing drawn without a result or a frame size", () => {
  const { canvas, arcs } = fakeCanvas(320, 240);
  drawOverlay(canvas, null, { frameWidth: 640, frameHeight: 480 });
  drawOverlay(canvas, base, { frameWidth: 0, frameHeight: 0 });
  assert.equal(arcs.length, 0);
});
