/**
 * A small msgpack decoder: exactly what the service's msgspec encoder emits (maps, arrays, str, bin, ints,
 * floats, bool, nil). Written here because the package has no runtime dependencies.
 * Ext types (timestamps and such) are never sent by the service and are refused rather than guessed at.
 */

export type MsgpackValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | MsgpackValue[]
  | { [key: string]: MsgpackValue };

export class MsgpackError extends Error {
  override name = "MsgpackError";
}

/** Nesting limit: a hostile or corrupt message must not overflow the stack. */
const MAX_DEPTH = 64;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes one msgpack value that must span the whole buffer. */
export function decodeMsgpack(bytes: Uint8Array): MsgpackValue {
  const reader = new Reader(bytes);
  const value = reader.value(0);
  if (reader.pos !== bytes.byteLength) {
    throw new MsgpackError(`${bytes.byteLength - reader.pos} trailing bytes after the msgpack value`);
  }
  return value;
}

class Reader {
  pos = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  value(depth: number): MsgpackValue {
    if (depth > MAX_DEPTH) throw new MsgpackError("msgpack nesting too deep");
    const b = this.u8();
    if (b <= 0x7f) return b; // positive fixint
    if (b >= 0xe0) return b - 0x100; // negative fixint
    if (b >= 0x80 && b <= 0x8f) return this.map(b & 0x0f, depth);
    if (b >= 0x90 && b <= 0x9f) return this.array(b & 0x0f, depth);
    if (b >= 0xa0 && b <= 0xbf) return this.str(b & 0x1f);
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return this.bin(this.u8());
      case 0xc5: return this.bin(this.u16());
      case 0xc6: return this.bin(this.u32());
      case 0xca: return this.take(4, (o) => this.view.getFloat32(o));
      case 0xcb: return this.take(8, (o) => this.view.getFloat64(o));
      case 0xcc: return this.u8();
      case 0xcd: return this.u16();
      case 0xce: return this.u32();
      case 0xcf: return narrow(this.take(8, (o) => this.view.getBigUint64(o)));
      case 0xd0: return this.take(1, (o) => this.view.getInt8(o));
      case 0xd1: return this.take(2, (o) => this.view.getInt16(o));
      case 0xd2: return this.take(4, (o) => this.view.getInt32(o));
      case 0xd3: return narrow(this.take(8, (o) => this.view.getBigInt64(o)));
      case 0xd9: return this.str(this.u8());
      case 0xda: return this.str(this.u16());
      case 0xdb: return this.str(this.u32());
      case 0xdc: return this.array(this.u16(), depth);
      case 0xdd: return this.array(this.u32(), depth);
      case 0xde: return this.map(this.u16(), depth);
      case 0xdf: return this.map(this.u32(), depth);
      default:
        // 0xc1 is never used; 0xc7-0xc9 and 0xd4-0xd8 are ext types.
        throw new MsgpackError(`unsupported msgpack type byte 0x${b.toString(16)} at offset ${this.pos - 1}`);
    }
  }

  private array(length: number, depth: number): MsgpackValue[] {
    // Each element takes at least one byte: a length beyond the rest of the buffer is corrupt, and checking
    // here keeps a bogus u32 length from allocating a huge array.
    this.need(length);
    const out: MsgpackValue[] = new Array<MsgpackValue>(length);
    for (let i = 0; i < length; i++) out[i] = this.value(depth + 1);
    return out;
  }

  private map(length: number, depth: number): { [key: string]: MsgpackValue } {
    this.need(length * 2);
    const out: { [key: string]: MsgpackValue } = {};
    for (let i = 0; i < length; i++) {
      const key = this.value(depth + 1);
      const k = typeof key === "string" ? key : String(key);
      // defineProperty so a "__proto__" key becomes a plain field instead of replacing the prototype.
      Object.defineProperty(out, k, { value: this.value(depth + 1), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }

  private str(length: number): string {
    this.need(length);
    let s: string;
    try {
      s = utf8.decode(this.bytes.subarray(this.pos, this.pos + length));
    } catch {
      throw new MsgpackError(`invalid UTF-8 in msgpack string at offset ${this.pos}`);
    }
    this.pos += length;
    return s;
  }

  private bin(length: number): Uint8Array {
    this.need(length);
    // A copy, so the result does not pin (or alias) the whole message buffer.
    const out = this.bytes.slice(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  private u8(): number {
    return this.take(1, (o) => this.view.getUint8(o));
  }
  private u16(): number {
    return this.take(2, (o) => this.view.getUint16(o));
  }
  private u32(): number {
    return this.take(4, (o) => this.view.getUint32(o));
  }

  private take<T>(size: number, read: (offset: number) => T): T {
    this.need(size);
    const v = read(this.pos);
    this.pos += size;
    return v;
  }

  private need(size: number): void {
    if (this.pos + size > this.bytes.byteLength) {
      throw new MsgpackError(`msgpack value truncated at offset ${this.pos} (needs ${size} more bytes)`);
    }
  }
}

/** 64-bit integers become plain numbers when they fit exactly, BigInt otherwise. */
function narrow(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}
