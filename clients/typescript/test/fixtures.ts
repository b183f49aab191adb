// Bytes produced by the service's own encoders (gazepipe.protocol, msgspec), so these tests pin the client to
// the real wire format rather than to this package's idea of it. Regenerate with the snippet in README.md.

/** pack_binary_frame(258, 1234.5, b"\xff\xd8") */
export const BINARY_FRAME_258 = "010010000201000000000000004a9340ffd8";
/** pack_binary_frame(2**32 - 1, 1.7e12, b"") */
export const BINARY_FRAME_MAX_SEQ = "01001000ffffffff00008056febc7842";

/** msgpack_encoder.encode(GazeResult(timestamp=1700000000123.25, pupil_left=(101.5, 202.25), ...)) */
export const RESULT_MSGPACK =
  "de001da474797065a6726573756c74a974696d657374616d70cb4278bcfe5687b400aa707570696c5f6c65667492cb4059600000000000cb4069480000000000ab707570696c5f7269676874c0b0686f72697a6f6e74616c5f726174696fcb3fdae147ae147ae1ae766572746963616c5f726174696fcb3fe0000000000000a769735f6c656674c2a869735f7269676874c2a969735f63656e746572c3ab69735f626c696e6b696e67c2af617474656e74696f6e5f73636f7265cb3fec000000000000af6672616d655f70726f636573736564c3a373657107a764726f70706564c0aa6c6174656e63795f6d73cb4029000000000000aa666163655f666f756e64c3a8666163655f626f78940a14cc96cca0b5707570696c5f6c6566745f636f6e666964656e6365cb3feccccccccccccdb6707570696c5f72696768745f636f6e666964656e6365cb0000000000000000b1707570696c5f6c6566745f726561736f6ec0b2707570696c5f72696768745f726561736f6eaa6579655f636c6f736564b16579655f6f70656e6e6573735f6c656674cb3fd3333333333333b26579655f6f70656e6e6573735f7269676874c0a9686561645f706f736583a3796177cbc00c000000000000a57069746368cb4000000000000000a4726f6c6ccb3fd0000000000000a9617474656e74697665c3a66576656e74739184a474797065a5626c696e6ba57374617274cb3ff0000000000000a3656e64cb4000000000000000a86475726174696f6ecb3fc3333333333333a873637265656e5f78c0a873637265656e5f79c0a97374616765735f6d7382a66465636f6465cb3fd999999999999aa5747261636bcb3ff4000000000000";

/** The same result through json_encoder. */
export const RESULT_JSON =
  '{"type":"result","timestamp":1700000000123.25,"pupil_left":[101.5,202.25],"pupil_right":null,"horizontal_ratio":0.42,"vertical_ratio":0.5,"is_left":false,"is_right":false,"is_center":true,"is_blinking":false,"attention_score":0.875,"frame_processed":true,"seq":7,"dropped":null,"latency_ms":12.5,"face_found":true,"face_box":[10,20,150,160],"pupil_left_confidence":0.9,"pupil_right_confidence":0.0,"pupil_left_reason":null,"pupil_right_reason":"eye_closed","eye_openness_left":0.3,"eye_openness_right":null,"head_pose":{"yaw":-3.5,"pitch":2.0,"roll":0.25},"attentive":true,"events":[{"type":"blink","start":1.0,"end":2.0,"duration":0.15}],"screen_x":null,"screen_y":null,"stages_ms":{"decode":0.4,"track":1.25}}';

/** ErrorMessage(code="bad_header", message="short", seq=3) */
export const ERROR_MSGPACK = "85a474797065a56572726f72a4636f6465aa6261645f686561646572a76d657373616765a573686f7274a974696d657374616d70c0a373657103";
/** ReplyMessage(request="stats", data={"blinks_per_minute": 12, "n": -5}) */
export const REPLY_MSGPACK = "83a474797065a57265706c79a772657175657374a57374617473a46461746182b1626c696e6b735f7065725f6d696e7574650ca16efb";

export function hex(s: string): Uint8Array {
  return Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
}
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
